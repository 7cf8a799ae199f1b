"""TfidfClassifier: learns separable toy tasks, persists safely, counts its weights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from causalclf import TfidfClassifier
from causalclf.evaluation.thresholds import tune_thresholds
from causalclf.methods import load_classifier
from tests.toy import toy_multi_label, toy_single_label


def test_learns_single_label_toy_task():
    texts, labels = toy_single_label(n_per_class=20)
    test_texts, test_labels = toy_single_label(n_per_class=10, seed=1)
    clf = TfidfClassifier().fit(texts, labels)
    assert clf.labels_ == ["film", "money", "sport"]
    assert np.mean(np.array(clf.predict(test_texts)) == np.array(test_labels)) >= 0.9
    proba = clf.predict_proba(test_texts)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_logits_are_the_logistic_regression_decision_function():
    texts, labels = toy_single_label()
    clf = TfidfClassifier().fit(texts, labels)
    np.testing.assert_allclose(clf.predict_proba(texts), clf.pipeline_.predict_proba(texts), atol=1e-6)


def test_binary_task_probabilities_match_logistic_regression():
    texts, labels = toy_single_label()
    keep = [y != "film" for y in labels]
    texts = [t for t, k in zip(texts, keep) if k]
    labels = [y for y, k in zip(labels, keep) if k]
    clf = TfidfClassifier().fit(texts, labels)
    assert clf.decision_function(texts).shape == (len(texts), 2)
    np.testing.assert_allclose(clf.predict_proba(texts), clf.pipeline_.predict_proba(texts), atol=1e-6)


def test_learns_multi_label_toy_task_with_tuned_thresholds():
    texts, labels = toy_multi_label(n=80)
    val_texts, val_labels = toy_multi_label(n=40, seed=1)
    test_texts, test_labels = toy_multi_label(n=40, seed=2)
    # Unigrams: on 80 five-word texts, keyword-filler bigrams only dilute the keywords.
    clf = TfidfClassifier(ngram_range=(1, 1)).fit(texts, labels, validation=(val_texts, val_labels))
    assert clf.multi_label
    tuned = tune_thresholds(clf.label_space_.encode(val_labels), clf.predict_proba(val_texts))
    np.testing.assert_array_equal(clf.thresholds_, tuned)
    exact = np.mean([sorted(p) == sorted(t) for p, t in zip(clf.predict(test_texts), test_labels)])
    assert exact >= 0.9


def test_trainable_parameters_count_coefficients_and_intercepts():
    texts, labels = toy_single_label()
    clf = TfidfClassifier().fit(texts, labels)
    lr = clf.pipeline_.named_steps["clf"]
    assert clf.trainable_parameters == lr.coef_.size + lr.intercept_.size == 3 * (lr.coef_.shape[1] + 1)
    multi = TfidfClassifier().fit(*toy_multi_label())
    n_features = len(multi.pipeline_.named_steps["tfidf"].vocabulary_)
    assert multi.trainable_parameters == 3 * (n_features + 1)


@pytest.mark.parametrize("task", [toy_single_label, toy_multi_label])
def test_save_load_round_trip(tmp_path, task):
    texts, labels = task()
    clf = TfidfClassifier(C=3.0, ngram_range=(1, 1)).fit(texts, labels, validation=(texts, labels))
    clf.save_pretrained(tmp_path)
    loaded = load_classifier(tmp_path)
    assert isinstance(loaded, TfidfClassifier) and loaded.get_params() == {**clf.get_params(), "ngram_range": [1, 1]}
    assert np.abs(loaded.predict_proba(texts) - clf.predict_proba(texts)).max() <= 1e-5
    np.testing.assert_array_equal(loaded.thresholds_, clf.thresholds_)
    assert loaded.predict(texts) == clf.predict(texts)


def test_a_label_present_everywhere_gets_a_constant_predictor_that_still_saves(tmp_path):
    texts, labels = toy_multi_label()
    labels = [ys + ["always"] for ys in labels]
    clf = TfidfClassifier().fit(texts, labels)
    assert all("always" in p for p in clf.predict(texts))
    clf.save_pretrained(tmp_path)
    np.testing.assert_allclose(
        TfidfClassifier.from_pretrained(tmp_path).predict_proba(texts), clf.predict_proba(texts), atol=1e-6
    )


def test_loading_refuses_untrusted_types(tmp_path):
    from fractions import Fraction

    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    clf = TfidfClassifier().fit(*toy_single_label())
    clf.save_pretrained(tmp_path)
    skops.io.dump({"not a pipeline": Fraction(1, 3)}, tmp_path / "pipeline.skops")
    with pytest.raises(UntrustedTypesFoundException):
        TfidfClassifier.from_pretrained(tmp_path)


def test_version_mismatch_warns(tmp_path):
    clf = TfidfClassifier().fit(*toy_single_label())
    clf.save_pretrained(tmp_path)
    (tmp_path / "versions.json").write_text('{"sklearn": "0.1"}')
    with pytest.warns(UserWarning, match="scikit-learn 0.1"):
        TfidfClassifier.from_pretrained(tmp_path)


def test_errors_are_clear():
    with pytest.raises(NotFittedError, match="not fitted"):
        TfidfClassifier().predict(["x"])
    with pytest.raises(ValueError, match="at least two classes"):
        TfidfClassifier().fit(["a b", "c d"], ["x", "x"])
