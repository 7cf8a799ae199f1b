"""Training health: a NaN or infinite loss or gradient stops the run with the step and the likely cause."""

from __future__ import annotations

import functools

import pytest
import torch

from causalclf.cli import main
from causalclf.runtime.batching import Rows
from causalclf.training.config import TrainingConfig
from causalclf.training.loop import TrainingDiverged, train
from tests.training._runs import metrics, write_config
from tests.training.test_loop import Regressor, _collate


def test_a_learning_rate_far_too_high_stops_the_run_and_names_the_step_and_cause():
    # AdamW moves w by about the learning rate per update: (1e20 x)^2 overflows float32 at the second update.
    config = TrainingConfig(
        epochs=5,
        batch_size=4,
        learning_rate=1e20,
        warmup_ratio=0.0,
        logging_steps=1,
        group_by_length=False,
        progress_bar=False,
    )
    with pytest.raises(TrainingDiverged) as caught:
        train(Regressor(), Rows([{"x": 1.0, "y": 3.0}] * 8), _collate, config)
    record = caught.value.record
    assert record["step"] == 2 and record["loss"] == "inf" and record["grad_norm"] > 1e19
    message = str(caught.value)
    assert message.startswith("training diverged at step 2 (seed 42): loss inf, grad_norm 2e+20.")
    assert "Likely cause: a learning rate too high (1e+20)" in message


@pytest.fixture
def nan_loss_for_seed(monkeypatch):
    """The embedding head's loss turns NaN from the second update for the seeds listed."""
    from causalclf.methods.embedding_head.model import EmbeddingHeadModel

    seeds, forward, calls = set(), EmbeddingHeadModel.forward, {}

    @functools.wraps(forward)  # the same signature: the Trainer reads it
    def poisoned(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        seed = torch.initial_seed()  # set_seed(seed) by the attempt: its Trainer seeds torch with it
        calls[seed] = calls.get(seed, 0) + 1
        if self.training and seed in seeds and calls[seed] > 1:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(EmbeddingHeadModel, "forward", poisoned)
    return seeds


def test_a_diverged_run_is_restarted_and_recorded_in_the_run_metrics(tmp_path, toy_file, tiny_llama, nan_loss_for_seed):
    nan_loss_for_seed.add(42)
    cfg = write_config(
        tmp_path,
        toy_file,
        model=tiny_llama,
        method="embedding_head",
        lora={"r": 2},
        training={"epochs": 2, "batch_size": 4, "learning_rate": 5e-3, "logging_steps": 1, "progress_bar": False},
    )
    assert main(["train", str(cfg)]) == 0
    attempts = metrics(tmp_path / "run")["info"]["training"]["attempts"]
    assert [a["seed"] for a in attempts] == [42, 1042] and attempts[0]["collapsed"]
    assert attempts[0]["diverged"]["step"] == 2 and attempts[0]["diverged"]["loss"] == "nan"
    assert "learning rate too high" in attempts[0]["diverged"]["likely_cause"]
    assert "diverged" not in attempts[1] and not attempts[1]["collapsed"]


def test_a_run_diverged_on_every_seed_is_a_clear_error(tmp_path, toy_file, tiny_llama, nan_loss_for_seed, capsys):
    nan_loss_for_seed.update({42, 1042})
    cfg = write_config(
        tmp_path,
        toy_file,
        model=tiny_llama,
        method="embedding_head",
        lora={"r": 2},
        training={"epochs": 1, "batch_size": 4, "logging_steps": 1, "progress_bar": False},
    )
    assert main(["train", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "error: training diverged at step 2 (seed 1042): loss nan" in err
    assert "Likely cause:" in err and "(seeds tried: 42, 1042)" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "metrics.json").exists()
