"""The training loop: early stopping on the validation score and restoring the best weights."""
from __future__ import annotations

import torch
from torch import nn

from causalclf.methods.batching import Rows
from causalclf.training import TrainingConfig, train


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

    def evaluate():  # best after the 2nd epoch, then worse: stop after 2 more, keep epoch 2
        seen.append(model.w.item())
        return [0.1, 0.9, 0.5, 0.4, 0.3, 0.2][len(seen) - 1]

    config = TrainingConfig(epochs=6, batch_size=4, learning_rate=0.1, warmup_ratio=0.0,
                            early_stopping_patience=2, group_by_length=False, progress_bar=False)
    result = train(model, rows, _collate, config, evaluate)
    assert len(seen) == 4 and result.stopped_early
    assert result.best_score == 0.9 and result.best_step == 4  # 2 updates per epoch
    assert model.w.item() == seen[1] != seen[-1]
    assert [h["validation_score"] for h in result.history if "validation_score" in h] == [0.1, 0.9, 0.5, 0.4]

