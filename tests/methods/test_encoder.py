"""EncoderClassifier: a tiny random BERT learns the toy tasks; one check on real minilm-l6."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from causalclf import EncoderClassifier, TfidfClassifier, distill
from causalclf.methods import load_classifier
from causalclf.methods.encoder.params import FULL_FINETUNE_LEARNING_RATE
from tests.methods._encoders import fast_training, one_thread, tiny_bert  # noqa: F401  (fixtures)
from tests.toy import toy_multi_label, toy_single_label

pytestmark = pytest.mark.usefixtures("one_thread")


def _accuracy(pred, truth) -> float:
    return float(np.mean([sorted(p) == sorted(t) if isinstance(t, list) else p == t for p, t in zip(pred, truth)]))


def test_learns_single_label_toy_task(tiny_bert):
    texts, labels = toy_single_label(n_per_class=20)
    test_texts, test_labels = toy_single_label(n_per_class=10, seed=1)
    clf = EncoderClassifier(model=tiny_bert, training=fast_training()).fit(
        texts, labels, validation=toy_single_label(n_per_class=5, seed=2)
    )
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

    rows = [dict(r, labels=y) for r, y in zip(clf.encode(texts[:8]), clf.label_space_.encode(labels[:8]))]
    batch = clf._collate(rows)
    assert batch["labels"].dtype == torch.float32 and batch["labels"].shape == (8, 3)
    with torch.no_grad():
        out = model(**batch)
    by_hand = -(
        batch["labels"] * torch.log(torch.sigmoid(out.logits))
        + (1 - batch["labels"]) * torch.log(1 - torch.sigmoid(out.logits))
    ).mean()
    torch.testing.assert_close(out.loss, by_hand, rtol=1e-5, atol=1e-6)

    from causalclf.evaluation.thresholds import tune_thresholds

    tuned = tune_thresholds(clf.label_space_.encode(val[1]), clf.predict_proba(val[0]))
    np.testing.assert_array_equal(clf.thresholds_, tuned)
    assert _accuracy(clf.predict(test_texts), test_labels) >= 0.8


@pytest.mark.parametrize("lora", [None, {"r": 4, "lora_alpha": 8}], ids=["full", "lora"])
@pytest.mark.parametrize("task", [toy_single_label, toy_multi_label])
def test_save_load_round_trip(tmp_path, tiny_bert, lora, task):
    texts, labels = task()
    clf = EncoderClassifier(model=tiny_bert, lora=lora, training=fast_training(epochs=2)).fit(
        texts, labels, validation=(texts, labels)
    )
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

    lora = EncoderClassifier(model=tiny_bert, lora={"r": 2}, training=fast_training(epochs=1)).fit(texts, labels)
    trainable = {n: p.numel() for n, p in lora.model_.named_parameters() if p.requires_grad}
    assert lora.trainable_parameters == sum(trainable.values()) < full.trainable_parameters
    assert any("lora_" in n for n in trainable) and any("classifier" in n for n in trainable)


def test_training_defaults_depend_on_lora():
    assert EncoderClassifier()._training_config().learning_rate == FULL_FINETUNE_LEARNING_RATE
    assert EncoderClassifier(training={"epochs": 1})._training_config().learning_rate == FULL_FINETUNE_LEARNING_RATE
    assert EncoderClassifier(lora={"r": 4})._training_config().learning_rate == 2e-4
    assert EncoderClassifier(training={"learning_rate": 1e-3})._training_config().learning_rate == 1e-3


def test_predicting_before_fit_is_a_clear_error():
    with pytest.raises(NotFittedError, match="not fitted"):
        EncoderClassifier().predict_proba(["text"])


@pytest.mark.slow
def test_bundled_minilm_fine_tunes_and_round_trips(tmp_path):
    texts, labels = toy_single_label(n_per_class=6)
    clf = EncoderClassifier(
        max_length=32,
        training={
            "epochs": 4,
            "learning_rate": 2e-4,
            "batch_size": 6,
            "progress_bar": False,
            "early_stopping_patience": None,
        },
    )
    clf.fit(texts, labels)
    assert clf.trainable_parameters == sum(p.numel() for p in clf.model_.parameters())
    assert _accuracy(clf.predict(texts), labels) >= 0.8
    clf.save_pretrained(tmp_path)
    loaded = EncoderClassifier.from_pretrained(tmp_path)
    assert np.abs(loaded.predict_proba(texts) - clf.predict_proba(texts)).max() <= 1e-5


def _dynamic_int8_linears(model: torch.nn.Module) -> int:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    return sum(isinstance(m, DynamicInt8Linear) for m in model.modules())


@pytest.mark.parametrize("lora", [None, {"r": 4, "lora_alpha": 8}], ids=["full", "lora"])
def test_int8_inference_predicts_like_full_precision_and_leaves_the_weights_alone(tmp_path, tiny_bert, lora):
    texts, labels = toy_single_label(n_per_class=20)
    test_texts, test_labels = toy_single_label(n_per_class=10, seed=1)
    clf = EncoderClassifier(model=tiny_bert, lora=lora, training=fast_training()).fit(texts, labels)
    before = {n: p.detach().clone() for n, p in clf.model_.state_dict().items()}
    fp32 = clf.predict_proba(test_texts)
    fp32_accuracy = _accuracy(clf.predict(test_texts), test_labels)

    clf.set_params(int8_inference=True)
    int8 = clf.predict_proba(test_texts)
    assert _dynamic_int8_linears(clf._inference_model()) > 0 and _dynamic_int8_linears(clf.model_) == 0
    assert 0 < np.abs(int8 - fp32).max() < 0.05  # quantized (not identical), yet close
    assert (int8.argmax(1) == fp32.argmax(1)).mean() >= 0.95
    assert abs(_accuracy(clf.predict(test_texts), test_labels) - fp32_accuracy) <= 0.05
    for name, value in clf.model_.state_dict().items():  # the trainable fp32 model is untouched
        torch.testing.assert_close(value, before[name], rtol=0, atol=0)

    clf.save_pretrained(tmp_path)
    loaded = load_classifier(tmp_path)
    assert loaded.int8_inference and _dynamic_int8_linears(loaded._inference_model()) > 0
    assert np.abs(loaded.predict_proba(test_texts) - int8).max() <= 1e-5


def test_lora_encoder_predicts_with_a_merged_copy_keyed_on_its_settings(tiny_bert):
    texts, labels = toy_single_label(n_per_class=8)
    clf = EncoderClassifier(model=tiny_bert, lora={"r": 4, "lora_alpha": 8}, training=fast_training(epochs=3))
    clf.fit(texts, labels)
    state = {n: p.detach().clone() for n, p in clf.model_.state_dict().items()}
    trainable = clf.trainable_parameters

    merged = clf.predict_proba(texts)
    inference = clf._inference_model()
    assert type(inference).__name__ == "BertForSequenceClassification"  # no PEFT wrapper left
    assert not any("lora_" in n for n, _ in inference.named_parameters())
    np.testing.assert_allclose(merged, clf.proba_from_logits(clf._forward(clf.model_, texts)), atol=1e-5)
    for name, value in clf.model_.state_dict().items():
        torch.testing.assert_close(value, state[name], rtol=0, atol=0)
    assert clf.trainable_parameters == trainable

    clf.set_params(int8_inference=True)  # a setting of the copy: the next prediction rebuilds it
    assert _dynamic_int8_linears(clf._inference_model()) > 0
    clf.set_params(int8_inference=False)
    assert _dynamic_int8_linears(clf._inference_model()) == 0
    np.testing.assert_allclose(clf.predict_proba(texts), merged, atol=1e-6)


def test_int8_copy_is_rebuilt_after_training(tiny_bert):
    # distill predicts with the untrained student first, then trains the same model object:
    # the int8 copy made before training must not survive it.
    texts, labels = toy_single_label(n_per_class=20)
    teacher = TfidfClassifier().fit(texts, labels)
    student = EncoderClassifier(model=tiny_bert, training=fast_training(), int8_inference=True)
    result = distill(teacher, student, texts=texts, labels=labels)
    int8 = student.predict_proba(texts)
    fp32 = student.set_params(int8_inference=False).predict_proba(texts)
    assert np.abs(int8 - fp32).max() < 0.05
    assert result.kl_after < 0.5 * result.kl_before


def test_int8_quantization_refuses_models_off_the_cpu():
    from causalclf.backbones.loading import int8_for_cpu_inference

    with pytest.raises(ValueError, match="CPU only"):
        int8_for_cpu_inference(torch.nn.Linear(4, 4, device="meta"))
