import json

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, hamming_loss, precision_recall_fscore_support

from causalclf.data.labels import LabelSpace
from causalclf.evaluation import classification_metrics, format_metrics

NAMES = ["business", "politics", "sport", "tech"]


def _single(seed, n=300):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    p = np.where(rng.random(n) < 0.6, y, rng.integers(0, 4, n))
    proba = rng.dirichlet(np.ones(4), n)
    return y, p, proba


@pytest.mark.parametrize("seed", range(5))
def test_single_label_matches_scikit_learn(seed):
    y, p, proba = _single(seed)
    space = LabelSpace(NAMES)
    m = classification_metrics(space.decode(y), space.decode(p), space, proba=proba)
    json.dumps(m)  # plain types only
    assert m["n"] == 300 and m["n_invalid"] == 0
    assert m["accuracy"] == pytest.approx(np.mean(y == p))
    for avg in ("micro", "macro", "weighted"):
        assert m[f"{avg}_f1"] == pytest.approx(f1_score(y, p, average=avg))
    pr, rc, f1, sup = precision_recall_fscore_support(y, p, zero_division=0)
    for j, name in enumerate(NAMES):
        assert m["per_class"][name] == pytest.approx(
            {"precision": pr[j], "recall": rc[j], "f1": f1[j], "support": sup[j]}
        )
    assert m["confusion_matrix"] == confusion_matrix(y, p).tolist()
    assert {"ece", "brier", "nll"} <= m.keys()


@pytest.mark.parametrize("seed", range(5))
def test_multi_label_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    Y = (rng.random((200, 4)) < 0.3).astype(int)
    P = np.where(rng.random((200, 4)) < 0.8, Y, 1 - Y)
    space = LabelSpace(NAMES, multi_label=True)
    proba = rng.random((200, 4))
    m = classification_metrics(space.decode(Y), space.decode(P), space, proba=proba)
    json.dumps(m)
    for avg in ("micro", "macro", "weighted"):
        assert m[f"{avg}_f1"] == pytest.approx(f1_score(Y, P, average=avg, zero_division=0))
    exact = np.mean(np.all(Y == P, axis=1))
    assert m["accuracy"] == m["subset_accuracy"] == pytest.approx(exact)
    assert m["hamming_loss"] == pytest.approx(hamming_loss(Y, P))
    assert m["label_cardinality"] == pytest.approx({"true": Y.sum(1).mean(), "predicted": P.sum(1).mean()})
    assert "confusion_matrix" not in m and "nll" not in m and {"ece", "brier"} <= m.keys()


def test_absent_class_counts_zero_in_macro_f1():
    space = LabelSpace(["a", "b", "c"])
    m = classification_metrics(["a", "b"], ["a", "b"], space)
    assert m["accuracy"] == 1.0 and m["macro_f1"] == pytest.approx(2 / 3)


def test_predictions_outside_the_label_space_count_as_wrong():
    space = LabelSpace(["a", "b"])
    m = classification_metrics(["a", "b", "a"], ["a", "banana", None], space)
    assert m["n_invalid"] == 2 and m["accuracy"] == pytest.approx(1 / 3)
    assert m["confusion_matrix"] == [[1, 0], [0, 0]]
    assert m["per_class"]["a"]["recall"] == 0.5
    multi = LabelSpace(["a", "b"], multi_label=True)
    m = classification_metrics([["a"], []], [["a"], ["zz"]], multi)
    assert m["n_invalid"] == 1 and m["subset_accuracy"] == 0.5
    assert "outside the label space" in format_metrics(m)


def test_format_metrics_lists_every_class():
    space = LabelSpace(NAMES)
    y, p, proba = _single(0)
    text = format_metrics(classification_metrics(space.decode(y), space.decode(p), space, proba=proba))
    assert all(name in text for name in NAMES)
    assert "macro-F1" in text and "ECE" in text


def test_rejects_length_and_shape_mismatch():
    space = LabelSpace(["a", "b"])
    with pytest.raises(ValueError):
        classification_metrics(["a"], ["a", "b"], space)
    with pytest.raises(ValueError):
        classification_metrics(["a", "b"], ["a", "b"], space, proba=np.ones((2, 3)) / 3)


def test_a_true_label_the_model_never_saw_is_counted_named_and_wrong_never_a_crash():
    space = LabelSpace(["a", "b"])
    y_true = ["a", "b", "zzz", "zzz", "a"]
    y_pred = ["a", "b", "a", None, "b"]  # None: an abstention must not "match" an unseen truth
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.5, 0.5], [0.4, 0.6]])
    m = classification_metrics(y_true, y_pred, space, proba=proba)
    assert m["n_unseen"] == 2 and m["unseen_labels"] == {"zzz": 2}
    assert m["accuracy"] == pytest.approx(2 / 5)
    # the unseen item predicted "a" is a false alarm for "a": precision 1/2, recall 1/2
    assert m["per_class"]["a"]["precision"] == pytest.approx(0.5) and m["per_class"]["a"]["support"] == 2
    known = [0, 1, 4]
    assert m["ece"] == pytest.approx(
        classification_metrics([y_true[i] for i in known], [y_pred[i] for i in known], space, proba=proba[known])["ece"]
    )
    assert "2 item(s) carry a true label the model never saw in training, scored as wrong: 'zzz' (2)" in format_metrics(
        m
    )

    multi = LabelSpace(["a", "b"], multi_label=True)
    mm = classification_metrics([["a", "zzz"], ["b"]], [["a"], ["b"]], multi)
    assert mm["n_unseen"] == 1 and mm["accuracy"] == 0.5 and mm["per_class"]["a"]["f1"] == 1.0


def test_classes_without_test_items_are_listed_and_macro_f1_explained():
    space = LabelSpace(["a", "b", "c"])
    m = classification_metrics(["a", "a", "b"], ["a", "a", "b"], space)
    assert m["accuracy"] == 1.0 and m["macro_f1"] == pytest.approx(2 / 3)  # c scores 0 for lack of items
    assert m["classes_without_support"] == ["c"] and m["macro_f1_supported"] == 1.0
    assert (
        "no test item of class(es) 'c': macro-F1 counts each as F1 0; over the 2 classes with test items it "
        "is 1.0000" in format_metrics(m)
    )
