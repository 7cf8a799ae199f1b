"""The one training loop: the Hugging Face Trainer, best-on-validation early stopping, checkpoints and health.

Every trainable method hands `train` a torch module whose forward returns a dict with
``loss``, a dataset of feature dicts, a collator, and an `evaluate` callback that scores
the current weights on validation (higher is better, e.g. macro-F1). After each epoch
(or every `eval_steps`) the callback runs; the trainable weights of the best evaluation
are kept in memory (adapters and heads are small) and restored at the end.

Beyond one process the same code runs under ``accelerate launch`` or ``torchrun``: the
Trainer's accelerate integration drives DDP, FSDP or DeepSpeed (``configs/accelerate/``).
Every process scores the full validation set and all of them act on the main process's
score (`BestOnValidation`); only the main process writes (`causalclf.processes`).

With ``checkpoint_dir``, ``<checkpoint_dir>/seed-<seed>/checkpoint-<step>/`` holds the
trainable weights only (``trainable.safetensors``: adapters and heads, never a frozen
backbone), the Trainer's optimizer, scheduler and RNG states and its trainer_state.json
(the data position), the RNG state at the epoch's start (which the length-grouped sampler
drew the epoch's order from), then, written last as the mark of a complete checkpoint, causalclf's
own state (``causalclf-state.json`` and ``best.safetensors``: the best-on-validation
score, step, weights and patience count). ``resume`` continues from the newest complete
one, with the same batches in the same order and the same RNG draws as an uninterrupted run.

A NaN or infinite loss or gradient norm stops the run (`TrainingHealth`, `TrainingDiverged`).
`train_with_restarts` adds collapse detection: a run whose best validation macro-F1 is no
better than predicting a constant learned nothing (the paper restarted such unlucky seeds
by hand), so the model is rebuilt with another seed and trained again; so is a diverged run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from transformers import Trainer, TrainerCallback

from causalclf import processes
from causalclf.atomic import atomic_write
from causalclf.errors import UserError
from causalclf.training.config import TrainingConfig

log = logging.getLogger(__name__)

TRAINABLE_FILE = "trainable.safetensors"
BEST_FILE = "best.safetensors"
STATE_FILE = "causalclf-state.json"
TRAINER_STATE_FILE = "trainer_state.json"
_CHECKPOINT = re.compile(r"checkpoint-(\d+)$")


class TrainingDiverged(UserError, RuntimeError):
    """The loss or the gradient norm became NaN or infinite."""

    def __init__(self, message: str, record: dict):
        super().__init__(message)
        self.record = record


class CheckpointError(UserError, RuntimeError):
    """A checkpoint folder that cannot be used as asked."""


class TrainingInterrupted(RuntimeError):
    """SIGTERM stopped training after a checkpoint was saved (raised when the signal's own handler returns)."""


@dataclass
class TrainResult:
    """What happened during `train`."""

    best_score: float | None
    """Best validation score seen (None without validation)."""
    best_step: int | None
    """Update step of the best score; its weights are the ones kept."""
    steps: int
    """Updates performed."""
    stopped_early: bool
    train_seconds: float
    history: list[dict] = field(default_factory=list)
    """Trainer log entries (loss, learning rate) and validation scores."""
    attempts: list[dict] = field(default_factory=list)
    """One entry per training attempt (seed, best_score, collapsed, and ``diverged`` for a NaN run) when run
    through `train_with_restarts`; the last attempt is the model kept."""
    model_mb: float | None = None
    """Size of all the module's weights: what a checkpoint of the whole model would hold."""
    checkpoint_mb: float | None = None
    """Size of the last checkpoint written (None without checkpoints)."""
    engine: dict | None = None
    """How the updates ran: accelerate's ``distributed_type`` (NO, MULTI_CPU, MULTI_GPU, FSDP, DEEPSPEED),
    the number of processes, the mixed precision and the device type (None when nothing was trained)."""
    gathered_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    """Under FSDP or DeepSpeed ZeRO-3 only: the kept trainable weights, gathered on every process, since the
    trained module itself is left sharded."""

    @property
    def collapsed(self) -> bool:
        """Whether the kept model's run collapsed (restarts exhausted)."""
        return bool(self.attempts and self.attempts[-1]["collapsed"])


# --------------------------------------------------------------------------- engines
def _is_zero3(trainer: Trainer) -> bool:
    return trainer.is_deepspeed_enabled and trainer.accelerator.state.deepspeed_plugin.zero_stage == 3


def _is_sharded(trainer: Trainer) -> bool:
    """Whether each process holds only a shard of the weights (FSDP, DeepSpeed ZeRO-3)."""
    return trainer.is_fsdp_enabled or _is_zero3(trainer)


# --------------------------------------------------------------------------- trainable weights
def gather_trainable(trainer: Trainer, names: list[str]) -> dict[str, torch.Tensor]:
    """Full CPU copies of the trainable weights `names` (as the unwrapped module names them).

    Sharded (FSDP, ZeRO-3), the shards of the trainable weights alone are gathered (the frozen
    backbone is left where it is), the way the Trainer saves PEFT models under each engine: a
    collective every process must enter, after which only the main process holds the tensors
    (the others get an empty dict). ZeRO-3 hands back its 16-bit copies.
    """
    if trainer.is_fsdp_enabled:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        state = get_model_state_dict(
            trainer.model_wrapped,
            options=StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True),
        )
    elif _is_zero3(trainer):
        state = trainer.model_wrapped._zero3_consolidated_16bit_state_dict(exclude_frozen_parameters=True)
    else:
        state = dict(trainer.accelerator.unwrap_model(trainer.model).named_parameters())
    return {n: state[n].detach().cpu().clone() for n in names if n in state}


def load_trainable(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy `state` into the trainable weights of the unsharded `model`; it must hold all of them."""
    params = dict(model.named_parameters())
    missing = sorted(n for n, p in params.items() if p.requires_grad and n not in state)
    unknown = sorted(set(state) - set(params))
    if missing or unknown:
        raise CheckpointError(
            f"{source} does not fit this model ({len(missing)} trainable weight(s) missing, e.g. "
            f"{missing[:2]}; {len(unknown)} unknown, e.g. {unknown[:2]}): it was written for "
            "another model or LoRA setting"
        )
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def _megabytes(state_or_folder) -> float:
    if isinstance(state_or_folder, Path):
        return sum(f.stat().st_size for f in state_or_folder.rglob("*") if f.is_file()) / 1e6
    return sum(t.numel() * t.element_size() for t in state_or_folder) / 1e6


# --------------------------------------------------------------------------- callbacks
class BestOnValidation(TrainerCallback):
    """Scores validation after each epoch (or every `eval_steps`), keeps a copy of the best
    trainable weights, and stops after `patience` evaluations without improvement.

    `model` is the module handed to `train`, never the DDP/FSDP wrapper the Trainer steps:
    under DDP it shares the wrapper's parameters, so it scores exactly the weights trained,
    outside the wrapper's gradient hooks. Every process scores the full validation set
    (under FSDP or ZeRO-3 the forward pass is itself a collective, so all must run it) and
    all act on the main process's score, broadcast: the best-weights and early-stopping
    decisions are then identical by construction, whatever last-bit differences the
    processes' arithmetic may have, so no process stops while another waits at a
    collective. The score is computed once per process, never summed across them.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        evaluate: Callable[[torch.nn.Module], float],
        patience: int | None,
        eval_steps: int | None,
    ):
        self.model, self.evaluate, self.patience, self.eval_steps = model, evaluate, patience, eval_steps
        self.best_score, self.best_step, self.best_state = -math.inf, None, None
        self.bad_evals, self.stopped_early = 0, False
        self.history: list[dict] = []
        # The trainable weights now, as CPU copies; `train` gathers them through the Trainer's engine instead.
        self.snapshot: Callable[[], dict[str, torch.Tensor]] = lambda: {
            n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad
        }

    def _score(self, state, control) -> None:
        self.model.eval()
        with torch.no_grad():
            score = processes.current().from_main(float(self.evaluate(self.model)))
        self.model.train()
        self.history.append({"step": state.global_step, "epoch": state.epoch, "validation_score": score})
        log.info("step %d: validation score %.4f", state.global_step, score)
        if score > self.best_score:
            self.best_score, self.best_step = score, state.global_step
            self.best_state, self.bad_evals = self.snapshot(), 0
        else:
            self.bad_evals += 1
            if self.patience is not None and self.bad_evals >= self.patience:
                control.should_training_stop = True
                self.stopped_early = True

    def on_step_end(self, args, state, control, **kwargs):
        if self.eval_steps and state.global_step % self.eval_steps == 0:
            self._score(state, control)

    def on_epoch_end(self, args, state, control, **kwargs):
        if not self.eval_steps:
            self._score(state, control)

    def restore_best(self) -> None:
        if self.best_state is not None:
            load_trainable(self.model, self.best_state, "the best weights")

    def state(self) -> dict:
        """Everything but the best weights, JSON-able, to resume from."""
        return {
            "best_score": None if self.best_step is None else self.best_score,
            "best_step": self.best_step,
            "bad_evals": self.bad_evals,
            "stopped_early": self.stopped_early,
            "history": self.history,
        }

    def load(self, checkpoint: Path) -> None:
        """Resume from the state `Checkpoints` wrote into `checkpoint`."""
        from safetensors.torch import load_file

        saved = json.loads((checkpoint / STATE_FILE).read_text())["validation"]
        self.best_step, self.bad_evals = saved["best_step"], saved["bad_evals"]
        self.stopped_early, self.history = saved["stopped_early"], saved["history"]
        if self.best_step is not None:
            self.best_score, self.best_state = saved["best_score"], load_file(str(checkpoint / BEST_FILE))


class TrainingHealth(TrainerCallback):
    """Stops training at the first logged loss or gradient norm that is NaN or infinite.

    The logged values are the same on every process (the loss is averaged across processes,
    the gradient norm is that of the all-reduced gradients), so all of them stop at the same
    step. No checkpoint is saved from a diverged model: registered after `Checkpoints`, this
    callback has the last word on saving.
    """

    WATCHED = ("loss", "grad_norm", "train_loss")

    def __init__(self, fp16: bool):
        self.fp16, self.start, self.last_logged, self.diverged = fp16, 0, 0, None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = self.last_logged = state.global_step  # a resumed run starts past step 0

    def on_log(self, args, state, control, logs=None, **kwargs):
        watched = {k: v for k, v in (logs or {}).items() if k in self.WATCHED}
        if self.diverged is None and not all(math.isfinite(v) for v in watched.values()):
            values = {k: v if math.isfinite(v) else str(v) for k, v in watched.items()}  # JSON has no NaN
            self.diverged = {
                "step": state.global_step,
                "since_step": self.last_logged + 1,
                **values,
                "likely_cause": self._likely_cause(args, first_log=self.last_logged == self.start),
            }
            control.should_training_stop = True
        self.last_logged = state.global_step
        self._no_save_if_diverged(control)

    def on_step_end(self, args, state, control, **kwargs):
        self._no_save_if_diverged(control)

    def on_epoch_end(self, args, state, control, **kwargs):
        self._no_save_if_diverged(control)

    def _no_save_if_diverged(self, control) -> None:
        if self.diverged is not None:
            control.should_save = False

    def _likely_cause(self, args, first_log: bool) -> str:
        rate = f"a learning rate too high ({args.learning_rate:g}): lower learning_rate or raise warmup_ratio"
        bad_input = "bad input: a NaN or infinite value among the features or targets"
        if self.fp16:
            return f"fp16 overflow: train in bfloat16 or float32 (dtype); else {rate}"
        # Already broken at the first log: the very first updates, which a sane learning rate rarely wrecks.
        return f"{bad_input}; or {rate}" if first_log else f"{rate}; or {bad_input}"

    def message(self, seed: int) -> str:
        d = self.diverged
        values = ", ".join(
            f"{k} {d[k]:g}" if isinstance(d[k], float) else f"{k} {d[k]}" for k in self.WATCHED if k in d
        )
        where = f"step {d['step']}" if d["since_step"] >= d["step"] else f"steps {d['since_step']}-{d['step']}"
        return f"training diverged at {where} (seed {seed}): {values}. Likely cause: {d['likely_cause']}"


class Checkpoints(TrainerCallback):
    """Completes the Trainer's checkpoints: one more when training stops for good (a resumed run
    then restores it without training), one on SIGTERM, and one after an epoch-end evaluation;
    into each, the RNG state of the epoch's start and causalclf's own state (best on validation,
    finished or not), written last, as the mark of a complete checkpoint."""

    def __init__(self, best: BestOnValidation | None, model_mb: float, resume_from: Path | None):
        self.best, self.model_mb, self.resume_from = best, model_mb, resume_from
        self.signalled = self.terminated = False
        self.saved_step, self.size_mb, self.epoch_rng = None, None, None

    def on_epoch_begin(self, args, state, control, **kwargs):
        # transformers' length-grouped sampler shuffles an epoch from the global RNG as its data loader
        # starts. Resumed mid-epoch, the Trainer starts that epoch's loader again and skips the batches
        # already trained on; for it to draw the same order, the RNG must be as it was when the epoch first
        # began (the Trainer restores the RNG of the checkpoint's own step after, for what follows).
        if self.resume_from is not None and state.epoch % 1:
            torch.set_rng_state(torch.load(self.resume_from / _epoch_rng_file(args), weights_only=True))
        self.resume_from, self.epoch_rng = None, torch.get_rng_state()

    def _sigterm_anywhere(self, args) -> bool:
        """Whether any process got SIGTERM: all must agree, or one would save and stop alone."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return self.signalled
        flag = torch.tensor(float(self.signalled), device=args.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return bool(flag.item())

    def on_step_end(self, args, state, control, **kwargs):
        if self._sigterm_anywhere(args):
            self.terminated = True
            control.should_save = control.should_training_stop = True
        elif control.should_training_stop:
            control.should_save = True

    def on_epoch_end(self, args, state, control, **kwargs):
        # Saved at this very step already (a checkpoint step that ends the epoch): that checkpoint predates
        # the epoch-end evaluation, which a resumed run would never redo, so it is written again.
        if control.should_training_stop or self.saved_step == state.global_step:
            control.should_save = True

    def on_save(self, args, state, control, **kwargs):
        from safetensors.torch import save

        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        torch.save(self.epoch_rng, folder / _epoch_rng_file(args))
        processes.current().wait()  # every process has written its part (its RNG states) before the mark
        if args.should_save:
            best = self.best
            if best is not None and best.best_state:
                atomic_write(folder / BEST_FILE, lambda f: f.write(save(best.best_state)))
            record = {
                "step": state.global_step,
                "finished": control.should_training_stop and not self.terminated,
                "validation": None if best is None else best.state(),
            }
            atomic_write(folder / STATE_FILE, lambda f: f.write(json.dumps(record, indent=1).encode()))
            self.size_mb = _megabytes(folder)
            log.info(
                "%s: %.2f MB (trainable weights, optimizer, scheduler, RNG and training state); the model's "
                "weights are %.1f MB",
                folder,
                self.size_mb,
                self.model_mb,
            )
        self.saved_step = state.global_step


def _epoch_rng_file(args) -> str:
    return f"epoch-start-rng-{args.process_index}.pt"


@contextlib.contextmanager
def _sigterm_caught_by(checkpoints: Checkpoints | None):
    """While training, SIGTERM only raises a flag, so that the step ends with a checkpoint."""
    if checkpoints is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: setattr(checkpoints, "signalled", True))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------------- the Trainer
class _Trainer(Trainer):
    """The Trainer, with checkpoints that hold the trainable weights only.

    The Trainer's checkpoint writes the model through the public `save_model` (next to the
    optimizer, scheduler, RNG and trainer state), whose default writes the whole state dict,
    frozen backbone included, and reloads it at resume through ``_load_from_checkpoint``. (Under FSDP and
    DeepSpeed the Trainer also writes the engine's own model and optimizer shards; DeepSpeed
    resumes from those.)
    """

    trainable_names: list[str]

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        from safetensors.torch import save_file

        state = gather_trainable(self, self.trainable_names)  # every process: a collective when sharded
        if self.args.should_save:
            folder = Path(output_dir or self.args.output_dir)
            folder.mkdir(parents=True, exist_ok=True)
            save_file(state, str(folder / TRAINABLE_FILE))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        from safetensors.torch import load_file

        path = Path(resume_from_checkpoint) / TRAINABLE_FILE
        state, model = load_file(str(path)), model if model is not None else self.model
        if not self.is_fsdp_enabled:
            return load_trainable(model, state, str(path))
        # FSDP (called after wrapping): every process reads the full weights and keeps its own shard.
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        missing = sorted(set(self.trainable_names) - set(state))
        if missing:
            raise CheckpointError(f"{path} lacks {len(missing)} trainable weight(s), e.g. {missing[:2]}")
        set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, strict=False))


# --------------------------------------------------------------------------- train
def _resume_point(folder: Path | None, resume: bool) -> Path | None:
    """The newest complete checkpoint in `folder` to continue from; None starts afresh."""
    if folder is None or not folder.is_dir():
        return None
    found = {p: _CHECKPOINT.match(p.name) for p in folder.iterdir()}
    found = {p: int(m.group(1)) for p, m in found.items() if m}
    if not resume:
        if found:
            raise CheckpointError(
                f"{folder} holds checkpoints of an earlier training: continue it (causalclf train "
                "--resume, or training.resume: true), or delete the folder to start over"
            )
        return None
    complete = [p for p in found if (p / STATE_FILE).is_file()]
    if not complete:
        log.info("no complete checkpoint in %s: training from the start", folder)
        return None
    return max(complete, key=found.get)


def _result(
    best: BestOnValidation | None,
    steps: int,
    seconds: float,
    log_history: list[dict],
    model_mb: float,
    checkpoint_mb: float | None,
    gathered: dict | None = None,
    engine: dict | None = None,
) -> TrainResult:
    return TrainResult(
        best_score=None if best is None or best.best_step is None else best.best_score,
        best_step=None if best is None else best.best_step,
        steps=steps,
        stopped_early=bool(best and best.stopped_early),
        train_seconds=seconds,
        history=log_history + ([] if best is None else best.history),
        model_mb=model_mb,
        checkpoint_mb=checkpoint_mb,
        engine=engine,
        gathered_state=gathered,
    )


def _restore_finished(
    model: torch.nn.Module, checkpoint: Path, best: BestOnValidation | None, model_mb: float
) -> TrainResult:
    """A training that had finished before the interruption: its state, without training."""
    from safetensors.torch import load_file

    load_trainable(model, load_file(str(checkpoint / TRAINABLE_FILE)), str(checkpoint))
    if best is not None:
        best.load(checkpoint)
        best.restore_best()
    model.eval()
    trainer_state = json.loads((checkpoint / TRAINER_STATE_FILE).read_text())
    log.info("%s holds a finished training: restored, not trained again", checkpoint)
    return _result(
        best, trainer_state["global_step"], 0.0, trainer_state["log_history"], model_mb, _megabytes(checkpoint)
    )


def _end_as_sigterm(step: int, folder: Path) -> None:
    """Let SIGTERM do what it was sent to do, now that the checkpoint is saved."""
    log.warning("SIGTERM at step %d: checkpoint saved in %s; continue with causalclf train --resume", step, folder)
    signal.raise_signal(signal.SIGTERM)
    raise TrainingInterrupted(f"SIGTERM stopped training at step {step}; its checkpoint is in {folder}")


def train(
    model: torch.nn.Module,
    train_dataset,
    collator: Callable,
    config: TrainingConfig,
    evaluate: Callable[[torch.nn.Module], float] | None = None,
) -> TrainResult:
    """Train `model` in place and leave it holding the best-on-validation weights.

    `evaluate(model)` scores the module being trained on validation (higher is better).
    With ``config.checkpoint_dir``, checkpoints go to ``<checkpoint_dir>/seed-<seed>/``, and
    ``config.resume`` continues from the newest complete one. A NaN or infinite loss or
    gradient norm raises `TrainingDiverged`. Under FSDP or DeepSpeed ZeRO-3 `model` is left
    sharded and the kept weights come back in ``gathered_state`` (`train_with_restarts` loads
    them into a fresh module).
    """
    if len(train_dataset) == 0:
        raise ValueError("the training set is empty")
    folder = None if config.checkpoint_dir is None else Path(config.checkpoint_dir) / f"seed-{config.seed}"
    resume_from = _resume_point(folder, config.resume)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    model_mb = _megabytes(list(model.parameters()))
    best = (
        None
        if evaluate is None
        else BestOnValidation(model, evaluate, config.early_stopping_patience, config.eval_steps)
    )
    if resume_from is not None and json.loads((resume_from / STATE_FILE).read_text())["finished"]:
        return _restore_finished(model, resume_from, best, model_mb)

    bf16 = any(p.dtype == torch.bfloat16 for p in model.parameters()) and torch.cuda.is_available()
    cpu = next(model.parameters()).device.type == "cpu"
    with (
        tempfile.TemporaryDirectory(prefix="causalclf-train-")
        if folder is None
        else contextlib.nullcontext(str(folder))
    ) as out:
        trainer = _Trainer(
            model=model,
            args=config.to_training_arguments(out, len(train_dataset), bf16, cpu),
            train_dataset=train_dataset,
            data_collator=collator,
        )
        trainer.trainable_names = names
        health = TrainingHealth(
            fp16=trainer.accelerator.mixed_precision == "fp16"
            or any(p.dtype == torch.float16 for p in model.parameters())
        )
        checkpoints = None if folder is None else Checkpoints(best, model_mb, resume_from)
        for callback in (best, checkpoints, health):  # in this order: each sees the decisions of those before
            if callback is not None:
                trainer.add_callback(callback)
        if best is not None:
            best.snapshot = lambda: gather_trainable(trainer, names)
            if resume_from is not None:
                best.load(resume_from)
        if resume_from is not None:
            log.info("resuming from %s", resume_from)
        start = time.perf_counter()
        with _sigterm_caught_by(checkpoints):
            trainer.train(resume_from_checkpoint=None if resume_from is None else str(resume_from))
        seconds = time.perf_counter() - start
        if checkpoints is not None and checkpoints.terminated:
            _end_as_sigterm(trainer.state.global_step, folder)
        if health.diverged is not None:
            raise TrainingDiverged(health.message(config.seed), health.diverged)
        gathered = None
        if _is_sharded(trainer):  # the module stays sharded: hand the kept weights over, gathered
            use_best = best is not None and best.best_step is not None
            gathered = processes.current().from_main(best.best_state if use_best else gather_trainable(trainer, names))
        elif best is not None:
            best.restore_best()
        state = trainer.accelerator.state
        engine = {
            "distributed_type": str(state.distributed_type.value),
            "processes": state.num_processes,
            "mixed_precision": str(state.mixed_precision),
            "device": state.device.type,
        }
    model.eval()
    return _result(
        best,
        trainer.state.global_step,
        seconds,
        trainer.state.log_history,
        model_mb,
        None if checkpoints is None else checkpoints.size_mb,
        gathered,
        engine,
    )


COLLAPSE_MARGIN = 0.02
"""Macro-F1 above the constant-prediction floor that a run must reach not to count as collapsed."""
RESTART_SEED_STEP = 1000


def constant_prediction_f1(y: np.ndarray, multi_label: bool) -> float:
    """The best macro-F1 any constant prediction reaches on encoded labels `y`.

    Single-label: every text gets the same class c, whose F1 is 2p/(1 + p) (p: its share),
    the others 0. Multi-label: per class, predicting it everywhere (2p/(1 + p)) beats never (0).
    """
    y = np.asarray(y)
    if multi_label:
        p = y.mean(axis=0)
        return float(np.mean(2 * p / (1 + p)))
    k = int(y.max()) + 1 if y.size else 1
    p = np.bincount(y, minlength=k) / max(len(y), 1)
    return float((2 * p / (1 + p)).max() / k)


def train_with_restarts(
    build: Callable[[int], torch.nn.Module],
    train_dataset,
    collator: Callable,
    config: TrainingConfig,
    evaluate: Callable[[torch.nn.Module], float] | None = None,
    floor: float | None = None,
) -> tuple[torch.nn.Module, TrainResult]:
    """`train` the module `build(seed)` returns; rebuild with a new seed while the run collapses or diverges.

    `floor` is the validation score of a constant prediction (`constant_prediction_f1`);
    without it or without `evaluate` no run counts as collapsed, but a diverged one is still
    restarted. Returns the module kept (the last one trained) and its result, whose
    ``attempts`` list every try; raises `TrainingDiverged` when the last try diverged.
    """
    attempts: list[dict] = []
    for attempt in range(max(config.max_restarts, 0) + 1):
        seed = config.seed + attempt * RESTART_SEED_STEP
        last = attempt == max(config.max_restarts, 0)
        model = build(seed)
        try:
            result = train(model, train_dataset, collator, replace(config, seed=seed), evaluate)
        except TrainingDiverged as e:
            attempts.append({"seed": seed, "best_score": None, "collapsed": True, "diverged": e.record})
            if last:
                tried = ", ".join(str(a["seed"]) for a in attempts)
                raise TrainingDiverged(f"{e} (seeds tried: {tried})", e.record) from None
            log.warning("%s; restarting with a new seed", e)
            continue
        if result.gathered_state is not None:  # trained sharded: the kept weights go into an unsharded copy
            model = build(seed)
            load_trainable(model, result.gathered_state, "the gathered weights")
            model.eval()
            result.gathered_state = None
        collapsed = (
            evaluate is not None
            and floor is not None
            and result.best_score is not None
            and result.best_score <= floor + COLLAPSE_MARGIN
        )
        attempts.append({"seed": seed, "best_score": result.best_score, "collapsed": collapsed})
        if not collapsed:
            break
        log.warning(
            "seed %d collapsed: best validation macro-F1 %.4f, a constant prediction reaches %.4f%s",
            seed,
            result.best_score,
            floor,
            f"; giving up after {config.max_restarts} restart(s), keeping this model"
            if last
            else "; restarting with a new seed",
        )
    result.attempts = attempts
    return model, result
