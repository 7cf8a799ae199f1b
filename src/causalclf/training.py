"""The one training loop: Hugging Face Trainer plus best-on-validation early stopping.

Every trainable method hands `train` a torch module whose forward returns a dict with
``loss``, a dataset of feature dicts, a collator, and an `evaluate` callback that scores
the current weights on validation (higher is better, e.g. macro-F1). After each epoch
(or every `eval_steps`) the callback runs; the trainable weights of the best evaluation
are kept in memory (adapters and heads are small) and restored at the end, so no
multi-hundred-MB checkpoint is written per epoch.

`train_with_restarts` adds collapse detection: a run whose best validation macro-F1 is no
better than predicting a constant learned nothing (the paper restarted such unlucky seeds
by hand), so the model is rebuilt with another seed and trained again.
"""
from __future__ import annotations

import logging
import math
import tempfile
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch
from transformers import TrainerCallback

log = logging.getLogger(__name__)


@dataclass
class TrainingConfig:
    """Optimisation settings shared by every trainable method."""

    epochs: float = 3.0
    """Passes over the training set (fractions allowed)."""
    batch_size: int = 8
    """Examples per device step."""
    gradient_accumulation_steps: int = 1
    """Steps whose gradients are summed before each optimizer update."""
    learning_rate: float = 2e-4
    """Peak learning rate (AdamW), reached after warm-up."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    warmup_ratio: float = 0.06
    """Share of the updates spent warming the learning rate up from 0."""
    scheduler: str = "linear"
    """Learning-rate schedule after warm-up (any transformers scheduler name)."""
    max_steps: int = -1
    """Stop after this many updates (overrides `epochs` when > 0)."""
    min_steps: int = 0
    """Train for at least this many updates: on a small training set `epochs` is raised until it
    holds (a few dozen updates leave a head or an adapter barely trained, whatever the epochs)."""
    eval_steps: int | None = None
    """Evaluate on validation every this many updates; None evaluates once per epoch."""
    early_stopping_patience: int | None = 2
    """Stop after this many evaluations without improvement; None never stops early."""
    seed: int = 42
    """Seed for weight initialisation, shuffling and dropout."""
    logging_steps: int = 10
    """Log the training loss every this many updates."""
    group_by_length: bool = True
    """Batch texts of similar length together (less padding, faster on CPU)."""
    progress_bar: bool = True
    """Show a tqdm progress bar."""
    max_restarts: int = 1
    """Rebuild and retrain with a new seed (seed + 1000 per restart) at most this many times
    when a run collapses: its best validation macro-F1 is within `COLLAPSE_MARGIN` of the
    best constant prediction. Needs validation data; 0 turns it off."""

    def to_training_arguments(self, output_dir: str, n_rows: int, bf16: bool = False):
        """These settings as transformers' `TrainingArguments` (no checkpoints, no evaluation strategy:
        `BestOnValidation` does both) for `n_rows` training rows."""
        from transformers import TrainingArguments

        return TrainingArguments(
            output_dir=output_dir, num_train_epochs=_epochs(self, n_rows), max_steps=self.max_steps,
            per_device_train_batch_size=self.batch_size, gradient_accumulation_steps=self.gradient_accumulation_steps,
            learning_rate=self.learning_rate, weight_decay=self.weight_decay, warmup_steps=self.warmup_ratio,
            lr_scheduler_type=self.scheduler, logging_steps=self.logging_steps, seed=self.seed,
            save_strategy="no", eval_strategy="no", report_to=[], disable_tqdm=not self.progress_bar,
            remove_unused_columns=False,
            train_sampling_strategy="group_by_length" if self.group_by_length else "random",
            dataloader_pin_memory=torch.cuda.is_available(), bf16=bf16,
        )

    @classmethod
    def coerce(cls, value: "TrainingConfig | dict | None") -> "TrainingConfig":
        if value is None:
            return cls()
        if isinstance(value, TrainingConfig):
            return value
        if isinstance(value, dict):
            unknown = set(value) - set(cls.__dataclass_fields__)
            if unknown:
                raise ValueError(
                    f"unknown training keys {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}"
                )
            return cls(**value)
        raise TypeError(f"training must be a TrainingConfig, a dict or None, not {type(value).__name__}")


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
    """One entry per training attempt (seed, best_score, collapsed) when run through
    `train_with_restarts`; the last attempt is the model kept."""

    @property
    def collapsed(self) -> bool:
        """Whether the kept model's run collapsed (restarts exhausted)."""
        return bool(self.attempts and self.attempts[-1]["collapsed"])


def _trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


class BestOnValidation(TrainerCallback):
    """Scores validation after each epoch (or every `eval_steps`), keeps a copy of the best
    trainable weights, and stops after `patience` evaluations without improvement."""

    def __init__(self, model: torch.nn.Module, evaluate: Callable[[torch.nn.Module], float],
                 patience: int | None, eval_steps: int | None):
        self.model, self.evaluate, self.patience, self.eval_steps = model, evaluate, patience, eval_steps
        self.best_score, self.best_step, self.best_state = -math.inf, None, None
        self.bad_evals, self.stopped_early = 0, False
        self.history: list[dict] = []

    def _score(self, state, control) -> None:
        self.model.eval()
        with torch.no_grad():
            score = float(self.evaluate(self.model))
        self.model.train()
        self.history.append({"step": state.global_step, "epoch": state.epoch, "validation_score": score})
        log.info("step %d: validation score %.4f", state.global_step, score)
        if score > self.best_score:
            self.best_score, self.best_step = score, state.global_step
            self.best_state, self.bad_evals = _trainable_state(self.model), 0
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
        if self.best_state is None:
            return
        with torch.no_grad():
            params = dict(self.model.named_parameters())
            for name, value in self.best_state.items():
                params[name].copy_(value)


def train(
    model: torch.nn.Module,
    train_dataset,
    collator: Callable,
    config: TrainingConfig,
    evaluate: Callable[[torch.nn.Module], float] | None = None,
) -> TrainResult:
    """Train `model` in place and leave it holding the best-on-validation weights.

    `evaluate(model)` scores the module being trained on validation (higher is better).
    """
    from transformers import Trainer

    if len(train_dataset) == 0:
        raise ValueError("the training set is empty")
    callback = None if evaluate is None else BestOnValidation(model, evaluate, config.early_stopping_patience,
                                                              config.eval_steps)
    bf16 = any(p.dtype == torch.bfloat16 for p in model.parameters()) and torch.cuda.is_available()
    with tempfile.TemporaryDirectory(prefix="causalclf-train-") as out:
        trainer = Trainer(model=model, args=config.to_training_arguments(out, len(train_dataset), bf16),
                          train_dataset=train_dataset, data_collator=collator,
                          callbacks=[callback] if callback else None)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    if callback is not None:
        callback.restore_best()
    model.eval()
    return TrainResult(
        best_score=None if callback is None or callback.best_step is None else callback.best_score,
        best_step=None if callback is None else callback.best_step,
        steps=trainer.state.global_step,
        stopped_early=bool(callback and callback.stopped_early),
        train_seconds=seconds,
        history=trainer.state.log_history + ([] if callback is None else callback.history),
    )


def _epochs(config: TrainingConfig, n_rows: int) -> float:
    """`config.epochs`, raised so that at least `config.min_steps` updates happen."""
    per_epoch = math.ceil(n_rows / config.batch_size) // max(config.gradient_accumulation_steps, 1)
    if config.min_steps <= 0 or per_epoch == 0:
        return config.epochs
    return max(config.epochs, config.min_steps / per_epoch)


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
    """`train` the module `build(seed)` returns; rebuild with a new seed while the run collapses.

    `floor` is the validation score of a constant prediction (`constant_prediction_f1`);
    without it or without `evaluate` this is a single `train`. Returns the module kept (the
    last one trained) and its result, whose ``attempts`` list every try.
    """
    attempts: list[dict] = []
    for attempt in range(max(config.max_restarts, 0) + 1):
        seed = config.seed + attempt * RESTART_SEED_STEP
        model = build(seed)
        result = train(model, train_dataset, collator, replace(config, seed=seed), evaluate)
        collapsed = (evaluate is not None and floor is not None and result.best_score is not None
                     and result.best_score <= floor + COLLAPSE_MARGIN)
        attempts.append({"seed": seed, "best_score": result.best_score, "collapsed": collapsed})
        if not collapsed:
            break
        log.warning("seed %d collapsed: best validation macro-F1 %.4f, a constant prediction reaches %.4f%s",
                    seed, result.best_score, floor,
                    "; restarting with a new seed" if attempt < config.max_restarts else
                    f"; giving up after {config.max_restarts} restart(s), keeping this model")
    result.attempts = attempts
    return model, result
