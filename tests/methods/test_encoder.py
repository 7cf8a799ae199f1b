"""EncoderClassifier: a tiny random BERT learns the toy tasks; one check on real minilm-l6."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from causalclf import EncoderClassifier, LoraSpec
from causalclf.methods import load_classifier
from causalclf.methods.encoder import FULL_FINETUNE_LEARNING_RATE
from tests.methods._encoders import fast_training, one_thread, tiny_bert  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("one_thread")
from tests.toy import toy_multi_label, toy_single_label


def _accuracy(pred, truth) -> float:
    return float(np.mean([sorted(p) == sorted(t) if isinstance(t, list) else p == t for p, t in zip(pred, truth)]))


def test_learns_single_label_toy_task(tiny_bert):
    texts, labels = toy_single_label(n_per_class=20)
    test_texts, test_labels = toy_single_label(n_per_class=10, seed=1)
    clf = EncoderClassifier(model=tiny_bert, training=fast_training()).fit(
        texts, labels, validation=toy_single_label(n_per_class=5, seed=2))
    assert clf.model_.config.problem_type == "single_label_classification"
    assert clf.model_.config.id2label == {0: "film", 1: "money", 2: "sport"}
    assert _accuracy(clf.predict(test_texts), test_labels) >= 0.9
    assert clf.train_result_.best_score >= 0.9


def test_multi_label_trains_with_bce_on_float_targets(tiny_bert):
    texts, labels = toy_multi_label(n=96)
    val = toy_multi_label(n=40, seed=1)
    test_texts, test_labels = toy_multi_label(n=40, seed=2)
    clf = EncoderClassifier(model=tiny_bert, training=fast_training()).fit(texts, labels, validation=val)
    model = clf.model_
    assert model.config.problem_type == "multi_label_classification"

    rows = [dict(r, labels=y) for r, y in zip(clf._encode(texts[:8]), clf.label_space_.encode(labels[:8]))]
    batch = clf._collate(rows)
    assert batch["labels"].dtype == torch.float32 and batch["labels"].shape == (8, 3)
    with torch.no_grad():
        out = model(**batch)
    by_hand = -(batch["labels"] * torch.log(torch.sigmoid(out.logits))
                + (1 - batch["labels"]) * torch.log(1 - torch.sigmoid(out.logits))).mean()
    torch.testing.assert_close(out.loss, by_hand, rtol=1e-5, atol=1e-6)

    from causalclf.evaluation.thresholds import tune_thresholds

    tuned = tune_thresholds(clf.label_space_.encode(val[1]), clf.predict_proba(val[0]))
    np.testing.assert_array_equal(clf.thresholds_, tuned)
    assert _accuracy(clf.predict(test_texts), test_labels) >= 0.8


@pytest.mark.parametrize("lora", [None, {"r": 4, "alpha": 8}], ids=["full", "lora"])
@pytest.mark.parametrize("task", [toy_single_label, toy_multi_label])
def test_save_load_round_trip(tmp_path, tiny_bert, lora, task):
    texts, labels = task()
    clf = EncoderClassifier(model=tiny_bert, lora=lora, training=fast_training(epochs=2)).fit(
        texts, labels, validation=(texts, labels))
    clf.save_pretrained(tmp_path)
    assert (tmp_path / ("model" if lora is None else "adapter")).is_dir()
    loaded = load_classifier(tmp_path)
    assert isinstance(loaded, EncoderClassifier) and loaded.get_params() == clf.get_params()
    assert np.abs(loaded.predict_proba(texts) - clf.predict_proba(texts)).max() <= 1e-5
    np.testing.assert_array_equal(loaded.thresholds_, clf.thresholds_)
    assert loaded.trainable_parameters == clf.trainable_parameters


def test_trainable_parameters_are_counted_from_the_model(tiny_bert):
    texts, labels = toy_single_label(n_per_class=4)
    full = EncoderClassifier(model=tiny_bert, training=fast_training(epochs=1)).fit(texts, labels)
    assert full.trainable_parameters == sum(p.numel() for p in full.model_.parameters() if p.requires_grad)
    assert full.trainable_parameters == sum(p.numel() for p in full.model_.parameters())

    lora = EncoderClassifier(model=tiny_bert, lora=LoraSpec(r=2), training=fast_training(epochs=1)).fit(texts, labels)
    trainable = {n: p.numel() for n, p in lora.model_.named_parameters() if p.requires_grad}
    assert lora.trainable_parameters == sum(trainable.values()) < full.trainable_parameters
    assert any("lora_" in n for n in trainable) and any("classifier" in n for n in trainable)


def test_training_defaults_depend_on_lora():
    assert EncoderClassifier()._training_config().learning_rate == FULL_FINETUNE_LEARNING_RATE
    assert EncoderClassifier(training={"epochs": 1})._training_config().learning_rate == FULL_FINETUNE_LEARNING_RATE
    assert EncoderClassifier(lora={"r": 4})._training_config().learning_rate == 2e-4
    assert EncoderClassifier(training={"learning_rate": 1e-3})._training_config().learning_rate == 1e-3


def test_predicting_before_fit_is_a_clear_error():
    with pytest.raises(RuntimeError, match="not fitted"):
        EncoderClassifier().predict_proba(["text"])


@pytest.mark.slow
def test_bundled_minilm_fine_tunes_and_round_trips(tmp_path):
    texts, labels = toy_single_label(n_per_class=6)
    clf = EncoderClassifier(max_length=32, training={"epochs": 4, "learning_rate": 2e-4, "batch_size": 6,
                                                     "progress_bar": False, "early_stopping_patience": None})
    clf.fit(texts, labels)
    assert clf.trainable_parameters == sum(p.numel() for p in clf.model_.parameters())
    assert _accuracy(clf.predict(texts), labels) >= 0.8
    clf.save_pretrained(tmp_path)
    loaded = EncoderClassifier.from_pretrained(tmp_path)
    assert np.abs(loaded.predict_proba(texts) - clf.predict_proba(texts)).max() <= 1e-5
