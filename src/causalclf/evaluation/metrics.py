"""Classification metrics from label names, single- and multi-label, as plain JSON-ready values.

Predictions may fall outside the label space (a generative classifier can answer
"Sports!" or nothing at all). Such predictions are never dropped: single-label they count
as wrong for every metric (a miss for the true class, a false alarm for none), and
multi-label the unknown names are ignored for the per-class counts and the item is not an
exact match. ``n_invalid`` says how many items were affected. A confusion matrix has no
column for them, so its rows may sum to less than the class support by that many items.

True labels may fall outside it too: a class the model never saw in training (with one
input file, a rare class can land in the test split only). Such items are never a crash and
never dropped: they are counted (``n_unseen``, ``unseen_labels`` by name) and scored as wrong
(no prediction can name the class: single-label, a false alarm for the class predicted;
multi-label, never an exact match, and the unseen name is left out of the per-class counts).
Calibration metrics use the items whose true labels the model knows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from causalclf.data.labels import LabelSpace

INVALID = -1
"""Id given to a single-label prediction outside the label space."""


UNSEEN = -2
"""Id given to a single-label true label outside the label space (never equal to a prediction)."""


def encode_labels(labels: Sequence, label_space: LabelSpace, unknown: int = INVALID) -> tuple[np.ndarray, np.ndarray]:
    """Encode like `LabelSpace.encode`, but mark (instead of raising on) labels outside the space.

    Returns the encoding (ids with `unknown` in their place, or multi-hot without the unknown
    names) and a boolean mask of the items that held an unknown label. Predictions use
    `INVALID` and true labels `UNSEEN`, so that an unseen truth never matches an invalid answer.
    """
    known = set(label_space.names)
    if not label_space.multi_label:
        bad = np.array([y is None or str(y) not in known for y in labels], dtype=bool)
        ids = np.array([unknown if b else label_space.index(y) for y, b in zip(labels, bad)], dtype=np.int64)
        return ids, bad
    bad = np.array([any(str(y) not in known for y in ys or ()) for ys in labels], dtype=bool)
    cleaned = [[y for y in ys or () if str(y) in known] for ys in labels]
    return label_space.encode(cleaned).astype(np.int64), bad


def encode_predictions(labels: Sequence, label_space: LabelSpace) -> tuple[np.ndarray, np.ndarray]:
    return encode_labels(labels, label_space, INVALID)


def encode_truth(labels: Sequence, label_space: LabelSpace) -> tuple[np.ndarray, np.ndarray]:
    return encode_labels(labels, label_space, UNSEEN)


def unseen_labels(labels: Sequence, label_space: LabelSpace) -> dict[str, int]:
    """True label names outside the label space, with how many items hold each."""
    from collections import Counter

    known = set(label_space.names)
    names = [y for ys in labels for y in (ys if label_space.multi_label else [ys]) if str(y) not in known]
    return dict(Counter(map(str, names)).most_common())


def check_paired(y_true: Sequence, *predictions: Sequence) -> None:
    """Raise unless there are items and every prediction list has one entry per item."""
    if len(y_true) == 0:
        raise ValueError("no test items")
    for pred in predictions:
        if len(pred) != len(y_true):
            raise ValueError(f"y_true has {len(y_true)} items but a prediction list has {len(pred)}")


def correct_per_item(y_true: Sequence, y_pred: Sequence, label_space: LabelSpace) -> np.ndarray:
    """Boolean (n,): prediction right (single-label) or exactly right (multi-label).

    An item whose prediction holds an unknown label, or whose truth holds a label the model
    never saw, is never right.
    """
    truth, unseen = encode_truth(y_true, label_space)
    pred, invalid = encode_predictions(y_pred, label_space)
    return _exact_match(truth, pred, invalid | unseen)


def _exact_match(truth: np.ndarray, pred: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    if truth.ndim == 2:
        return np.all(truth == pred, axis=1) & ~unknown
    return (truth == pred) & ~unknown


def classification_metrics(
    y_true: Sequence, y_pred: Sequence, label_space: LabelSpace, proba: np.ndarray | None = None
) -> dict:
    """Accuracy, micro/macro/weighted F1, per-class P/R/F1/support and more; see module docs.

    Args:
        y_true: label names: list[str], or list[list[str]] for multi-label.
        y_pred: predicted names in the same shape (unknown names allowed, see module docs).
        label_space: fixes the class order of ``per_class``, ``confusion_matrix`` and
            the columns of ``proba``.
        proba: optional (n, k) probabilities (softmax rows, or per-class sigmoids for
            multi-label); adds ``ece`` and ``brier`` (and ``nll`` for single-label).

    F1s come from scikit-learn with ``zero_division=0`` over every class of the label space,
    including classes with no item in this test set: such a class scores F1 = 0 in
    ``macro_f1`` (so accuracy 1.0 can stand beside macro-F1 0.5); they are listed in
    ``classes_without_support``, and ``macro_f1_supported`` averages the other classes only.
    Multi-label ``accuracy`` is subset accuracy (exact match of the label set).
    """
    from sklearn.metrics import confusion_matrix, f1_score, hamming_loss, precision_recall_fscore_support

    check_paired(y_true, y_pred)
    truth, unseen = encode_truth(y_true, label_space)
    pred, invalid = encode_predictions(y_pred, label_space)
    names = label_space.names
    classes = list(range(len(names)))
    f1_args = {"labels": classes, "zero_division": 0}

    precision, recall, f1, support = precision_recall_fscore_support(truth, pred, **f1_args)
    supported = support > 0
    out: dict = {
        "n": len(truth),
        "n_invalid": int(invalid.sum()),
        "n_unseen": int(unseen.sum()),
        "unseen_labels": unseen_labels(y_true, label_space),
        "accuracy": float(_exact_match(truth, pred, invalid | unseen).mean()),
        "micro_f1": float(f1_score(truth, pred, average="micro", **f1_args)),
        "macro_f1": float(f1_score(truth, pred, average="macro", **f1_args)),
        "macro_f1_supported": float(f1[supported].mean()) if supported.any() else 0.0,
        "classes_without_support": [name for name, s in zip(names, support) if s == 0],
        "weighted_f1": float(f1_score(truth, pred, average="weighted", **f1_args)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support)
        },
    }
    if label_space.multi_label:
        out["subset_accuracy"] = out["accuracy"]
        out["hamming_loss"] = float(hamming_loss(truth, pred))
        out["label_cardinality"] = {"true": float(truth.sum(1).mean()), "predicted": float(pred.sum(1).mean())}
    else:
        out["confusion_matrix"] = confusion_matrix(truth, pred, labels=classes).tolist()

    if proba is not None:
        from causalclf.evaluation.calibration import brier_score, expected_calibration_error, negative_log_likelihood

        proba = np.asarray(proba, dtype=np.float64)
        if proba.shape != (len(truth), len(names)):
            raise ValueError(f"proba must be (n, k) = ({len(truth)}, {len(names)}); got {proba.shape}")
        known = ~unseen
        if known.any():
            out["ece"] = expected_calibration_error(truth[known], proba[known])
            out["brier"] = brier_score(truth[known], proba[known])
            if not label_space.multi_label:
                out["nll"] = negative_log_likelihood(truth[known], proba[known])
    return out


def format_metrics(metrics: dict) -> str:
    """A short plain-text summary: headline numbers, then a per-class table."""
    m = metrics
    lines = [
        f"n={m['n']}  accuracy {m['accuracy']:.4f}  micro-F1 {m['micro_f1']:.4f}  "
        f"macro-F1 {m['macro_f1']:.4f}  weighted-F1 {m['weighted_f1']:.4f}"
    ]
    if "hamming_loss" in m:
        card = m["label_cardinality"]
        lines.append(
            f"subset accuracy {m['subset_accuracy']:.4f}  Hamming loss {m['hamming_loss']:.4f}  "
            f"labels/item {card['true']:.2f} true, {card['predicted']:.2f} predicted"
        )
    calibration = [
        f"{label} {m[key]:.4f}" for key, label in (("ece", "ECE"), ("brier", "Brier"), ("nll", "NLL")) if key in m
    ]
    if calibration:
        lines.append("  ".join(calibration))
    if m.get("n_invalid"):
        lines.append(f"{m['n_invalid']} prediction(s) held labels outside the label space (never counted right)")
    if m.get("n_unseen"):
        named = ", ".join(f"{name!r} ({n})" for name, n in m["unseen_labels"].items())
        lines.append(
            f"{m['n_unseen']} item(s) carry a true label the model never saw in training, scored as wrong: {named}"
        )
    if m.get("classes_without_support"):
        lines.append(
            f"no test item of class(es) {', '.join(map(repr, m['classes_without_support']))}: macro-F1 counts "
            f"each as F1 0; over the {len(m['per_class']) - len(m['classes_without_support'])} classes with "
            f"test items it is {m['macro_f1_supported']:.4f}"
        )
    width = max([5] + [len(name) for name in m["per_class"]])
    lines.append(f"{'class':<{width}}  precision  recall      f1  support")
    for name, c in m["per_class"].items():
        lines.append(f"{name:<{width}}  {c['precision']:9.4f}  {c['recall']:6.4f}  {c['f1']:6.4f}  {c['support']:7d}")
    return "\n".join(lines)
