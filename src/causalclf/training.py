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

from causalclf.config import TrainingConfig

log = logging.getLogger(__name__)


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
