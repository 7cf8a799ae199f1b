"""scikit-learn manners: parameters untouched in __init__, nested get/set_params, clone, cross_val_score."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.utils.validation import check_is_fitted

from causalclf import EmbeddingHeadClassifier, EncoderClassifier, InstructionClassifier, TfidfClassifier
from causalclf.methods import get_method, method_names
from causalclf.training.config import TrainingConfig
from tests.toy import toy_single_label

HEAD_TRAINING = {
    "epochs": 6,
    "batch_size": 8,
    "learning_rate": 5e-3,
    "progress_bar": False,
    "early_stopping_patience": None,
    "logging_steps": 1000,
}


@pytest.mark.parametrize("name", method_names())
def test_every_method_is_a_classifier_whose_defaults_are_never_shared(name):
    cls = get_method(name)
    a, b = cls(), cls()
    assert is_classifier(a)
    for key, value in a.get_params(deep=False).items():
        if isinstance(value, (dict, list)):
            assert value is not b.get_params(deep=False)[key], key  # a fresh default per instance
    with pytest.raises(NotFittedError):
        check_is_fitted(a)


def test_nested_params_reach_training_and_lora():
    clf = EmbeddingHeadClassifier(training={"epochs": 2})
    params = clf.get_params(deep=True)
    assert params["training__epochs"] == 2 and params["lora__r"] == 8
    clf.set_params(training__seed=7, lora__r=4, pooling="mean")
    assert clf.training == {"epochs": 2, "seed": 7} and clf.lora["r"] == 4 and clf.pooling == "mean"
    assert clf.lora["lora_alpha"] == 16  # the other LoRA keys stay
    from_config = EmbeddingHeadClassifier(training=TrainingConfig(epochs=1)).set_params(training__seed=3)
    assert TrainingConfig.coerce(from_config.training) == TrainingConfig(epochs=1, seed=3)
    with pytest.raises(ValueError, match="no parameter 'trainig'"):
        clf.set_params(trainig__seed=1)


def test_temporary_params_hold_inside_the_block_and_are_undone_after_it_even_on_an_error():
    clf = EmbeddingHeadClassifier(batch_size=16)
    with clf.temporary_params(batch_size=2, max_batch_tokens=64) as same:
        assert same is clf and (clf.batch_size, clf.max_batch_tokens) == (2, 64)
    assert (clf.batch_size, clf.max_batch_tokens) == (16, None)
    with pytest.raises(RuntimeError), clf.temporary_params(batch_size=3):
        raise RuntimeError("a failed run")
    assert clf.batch_size == 16


def test_clone_keeps_parameters_and_drops_fitted_state():
    texts, labels = toy_single_label(10)
    fitted = TfidfClassifier(C=3.0, ngram_range=(1, 1)).fit(texts, labels)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params() and not hasattr(copy, "pipeline_")
    assert list(fitted.classes_) == ["film", "money", "sport"]
    assert fitted.score(texts, labels) == pytest.approx(np.mean(np.array(fitted.predict(texts)) == labels))
    for cls in (EmbeddingHeadClassifier, EncoderClassifier, InstructionClassifier):
        original = cls(training={"seed": 5}, max_length=33)
        assert clone(original).get_params() == original.get_params()


def test_cross_val_score_on_tfidf_and_on_a_tiny_embedding_head(tiny_llama):
    texts, labels = toy_single_label(12)
    scores = cross_val_score(TfidfClassifier(), texts, labels, cv=3)
    assert scores.shape == (3,) and scores.mean() >= 0.8
    head = EmbeddingHeadClassifier(model=tiny_llama, lora={"r": 2}, training=HEAD_TRAINING, batch_size=16)
    scores = cross_val_score(head, texts, labels, cv=2)
    assert scores.shape == (2,) and scores.mean() >= 0.7  # the toy task is separable
