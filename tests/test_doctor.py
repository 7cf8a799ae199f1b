"""causalclf doctor: a healthy model passes every check; each planted bug fails its check."""

from __future__ import annotations

import numpy as np
import pytest

from causalclf import EmbeddingHeadClassifier, TfidfClassifier
from causalclf.cli import main
from causalclf.doctor import PROBE_TEXTS, diagnose
from tests.toy import toy_single_label

TRAINING = {"epochs": 3, "batch_size": 4, "learning_rate": 5e-3, "progress_bar": False, "logging_steps": 1000}


@pytest.fixture(scope="module")
def head(tiny_llama):
    texts, labels = toy_single_label(8)
    return EmbeddingHeadClassifier(model=tiny_llama, lora={"r": 4}, training=TRAINING, batch_size=8).fit(texts, labels)


def _by_name(checks):
    return {c.name: c for c in checks}


def test_a_healthy_model_passes_every_check(head):
    checks = _by_name(diagnose(head))
    assert all(c.passed for c in checks.values()), checks
    assert checks["padding invariance"].worst <= 1e-4


def test_pooling_that_reads_padding_fails_padding_invariance(head, monkeypatch):
    import causalclf.methods.embedding_head.model as module

    def last_position(hidden, attention_mask, mode="last"):  # the classic bug: ignores the mask
        return hidden[:, -1]

    monkeypatch.setattr(module, "pool", last_position)
    check = _by_name(diagnose(head))["padding invariance"]
    assert check.passed is False and check.worst > 1e-3
    assert "text" in check.detail


def test_random_scores_fail_determinism():
    class Sampling(TfidfClassifier):  # as if dropout stayed on, or labels were sampled
        def _logits(self, texts):
            return super()._logits(texts) + np.random.default_rng().normal(size=(len(texts), len(self.labels_)))

    clf = Sampling().fit(*toy_single_label(10))
    assert _by_name(diagnose(clf))["deterministic"].passed is False


def test_state_lost_on_save_fails_the_round_trip(tmp_path):
    class ForgetsTemperature(TfidfClassifier):  # a save that drops the fitted temperature
        def save_pretrained(self, path):
            temperature, self.temperature_ = self.temperature_, None
            try:
                return super().save_pretrained(path)
            finally:
                self.temperature_ = temperature

    texts, labels = toy_single_label(10)
    clf = ForgetsTemperature().fit(texts, labels)
    clf.temperature_ = np.float64(3.0)
    assert _by_name(diagnose(clf))["save/load round trip"].passed is False
    clf.temperature_ = None
    assert _by_name(diagnose(clf))["save/load round trip"].passed is True


def test_doctor_verb_exit_codes(head, tmp_path, capsys, monkeypatch):
    import causalclf.methods.embedding_head.model as module

    head.save_pretrained(tmp_path / "model")
    texts = tmp_path / "probe.txt"
    texts.write_text("\n".join(PROBE_TEXTS[:3]) + "\n")
    assert main(["doctor", str(tmp_path / "model"), "--input", str(texts)]) == 0
    out = capsys.readouterr().out
    assert "all checks passed" in out and "padding invariance" in out
    assert main(["doctor", str(tmp_path / "model"), "--input", str(texts), "--tolerance", "-1"]) == 2
    assert "--tolerance: -1.0 must be at least 0" in capsys.readouterr().err
    monkeypatch.setattr(module, "pool", lambda hidden, attention_mask, mode="last": hidden[:, -1])  # reads padding
    assert main(["doctor", str(tmp_path / "model"), "--input", str(texts)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_one_text_cannot_test_padding(head):
    with pytest.raises(ValueError, match="at least 2 texts"):
        diagnose(head, ["only one"])
