"""The training loop: early stopping on the validation score and restoring the best weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from causalclf.runtime.batching import Rows
from causalclf.training.config import TrainingConfig
from causalclf.training.loop import train


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x, labels):
        return {"loss": ((self.w * x - labels) ** 2).mean()}


def _collate(rows):
    return {"x": torch.tensor([r["x"] for r in rows]), "labels": torch.tensor([r["y"] for r in rows])}


def test_stops_after_patience_and_restores_the_best_weights():
    model = Regressor()
    rows = Rows([{"x": 1.0, "y": 3.0}] * 8)
    seen = []

    def evaluate(module):  # best after the 2nd epoch, then worse: stop after 2 more, keep epoch 2
        assert module is model
        seen.append(module.w.item())
        return [0.1, 0.9, 0.5, 0.4, 0.3, 0.2][len(seen) - 1]

    config = TrainingConfig(
        epochs=6,
        batch_size=4,
        learning_rate=0.1,
        warmup_ratio=0.0,
        early_stopping_patience=2,
        group_by_length=False,
        progress_bar=False,
    )
    result = train(model, rows, _collate, config, evaluate)
    assert len(seen) == 4 and result.stopped_early
    assert result.best_score == 0.9 and result.best_step == 4  # 2 updates per epoch
    assert model.w.item() == seen[1] != seen[-1]
    assert [h["validation_score"] for h in result.history if "validation_score" in h] == [0.1, 0.9, 0.5, 0.4]


def test_min_steps_raises_the_epochs_of_a_small_training_set():
    model = Regressor()
    config = TrainingConfig(epochs=1, batch_size=4, min_steps=10, group_by_length=False, progress_bar=False)
    assert train(model, Rows([{"x": 1.0, "y": 3.0}] * 8), _collate, config).steps == 10  # 2 per epoch -> 5 epochs
    config = TrainingConfig(epochs=3, batch_size=4, min_steps=4, group_by_length=False, progress_bar=False)
    assert train(model, Rows([{"x": 1.0, "y": 3.0}] * 8), _collate, config).steps == 6  # epochs already suffice


def test_constant_prediction_f1_is_the_best_constant_predictor():
    import itertools

    import numpy as np
    from sklearn.metrics import f1_score

    from causalclf.training.loop import constant_prediction_f1

    y = np.array([0, 0, 0, 1, 2, 2, 1, 0, 3])
    best = max(f1_score(y, np.full_like(y, c), average="macro", labels=range(4), zero_division=0) for c in range(4))
    assert constant_prediction_f1(y, multi_label=False) == pytest.approx(best)

    multi = np.random.default_rng(0).random((30, 3)) < [0.1, 0.5, 0.8]
    best = max(
        f1_score(multi, np.tile(row, (30, 1)), average="macro", zero_division=0)
        for row in itertools.product([0, 1], repeat=3)
    )
    assert constant_prediction_f1(multi.astype(int), multi_label=True) == pytest.approx(best)


def _restart_setup(scores_by_seed):
    built, model = [], Regressor()

    def build(seed):
        built.append(seed)
        return model

    def evaluate(module):
        return scores_by_seed[built[-1]]

    rows = Rows([{"x": 1.0, "y": 3.0}] * 4)
    return built, build, evaluate, rows


def test_a_collapsed_run_is_rebuilt_with_a_new_seed(caplog):
    from causalclf.training.loop import COLLAPSE_MARGIN, train_with_restarts

    built, build, evaluate, rows = _restart_setup({7: 0.30, 1007: 0.90})
    config = TrainingConfig(epochs=1, batch_size=4, seed=7, group_by_length=False, progress_bar=False)
    kept, result = train_with_restarts(build, rows, _collate, config, evaluate, floor=0.30 - COLLAPSE_MARGIN / 2)
    assert isinstance(kept, Regressor)
    assert built == [7, 1007]
    assert [(a["seed"], a["collapsed"]) for a in result.attempts] == [(7, True), (1007, False)]
    assert not result.collapsed and result.best_score == 0.90
    assert "seed 7 collapsed" in caplog.text and "restarting" in caplog.text


def test_restarts_are_bounded_and_a_last_collapse_is_reported(caplog):
    from causalclf.training.loop import train_with_restarts

    built, build, evaluate, rows = _restart_setup({1: 0.2, 1001: 0.2, 2001: 0.2})
    config = TrainingConfig(epochs=1, batch_size=4, seed=1, max_restarts=2, group_by_length=False, progress_bar=False)
    _, result = train_with_restarts(build, rows, _collate, config, evaluate, floor=0.25)
    assert built == [1, 1001, 2001] and result.collapsed
    assert "giving up after 2 restart(s)" in caplog.text

    built, build, evaluate, rows = _restart_setup({1: 0.2})
    off = TrainingConfig(epochs=1, batch_size=4, seed=1, max_restarts=0, group_by_length=False, progress_bar=False)
    assert train_with_restarts(build, rows, _collate, off, evaluate, floor=0.25)[1].collapsed and built == [1]
    # Without validation nothing can be judged: one run, never "collapsed".
    built, build, _, rows = _restart_setup({})
    assert not train_with_restarts(build, rows, _collate, config, None, floor=None)[1].collapsed and built == [1]


def test_an_embedding_head_that_learns_nothing_is_restarted(tiny_llama):
    from causalclf import EmbeddingHeadClassifier
    from tests.toy import toy_single_label

    texts, labels = toy_single_label(6)
    validation = toy_single_label(4, seed=1)
    training = {"epochs": 1, "batch_size": 6, "progress_bar": False, "logging_steps": 1000, "seed": 3}
    frozen = EmbeddingHeadClassifier(model=tiny_llama, lora={"r": 2}, training={**training, "learning_rate": 0.0})
    result = frozen.fit(texts, labels, validation=validation).train_result_
    # Zero-initialised head and no updates: every text gets the first class, a constant.
    assert [a["seed"] for a in result.attempts] == [3, 1003] and result.collapsed

    healthy = EmbeddingHeadClassifier(
        model=tiny_llama, lora={"r": 2}, training={**training, "epochs": 6, "learning_rate": 5e-3}
    )
    result = healthy.fit(texts, labels, validation=validation).train_result_
    assert len(result.attempts) == 1 and not result.collapsed
