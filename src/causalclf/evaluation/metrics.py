"""Classification metrics from label names, single- and multi-label, as plain JSON-ready values.

Predictions may fall outside the label space (a generative classifier can answer
"Sports!" or nothing at all). Such predictions are never dropped: single-label they count
as wrong for every metric (a miss for the true class, a false alarm for none), and
multi-label the unknown names are ignored for the per-class counts and the item is not an
exact match. ``n_invalid`` says how many items were affected. A confusion matrix has no
column for them, so its rows may sum to less than the class support by that many items.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from causalclf.data.labels import LabelSpace

INVALID = -1
"""Id given to a single-label prediction outside the label space."""


def encode_predictions(labels: Sequence, label_space: LabelSpace) -> tuple[np.ndarray, np.ndarray]:
    """Encode like `LabelSpace.encode`, but mark (instead of raising on) unknown labels.

    Returns the encoding (ids with `INVALID` for unknown, or multi-hot without the unknown
    names) and a boolean mask of the items that held an unknown label.
    """
    known = set(label_space.names)
    if not label_space.multi_label:
        invalid = np.array([y is None or str(y) not in known for y in labels], dtype=bool)
        ids = np.array([INVALID if bad else label_space.index(y) for y, bad in zip(labels, invalid)], dtype=np.int64)
        return ids, invalid
    invalid = np.array([any(str(y) not in known for y in ys or ()) for ys in labels], dtype=bool)
    cleaned = [[y for y in ys or () if str(y) in known] for ys in labels]
    return label_space.encode(cleaned).astype(np.int64), invalid


def check_paired(y_true: Sequence, *predictions: Sequence) -> None:
    """Raise unless there are items and every prediction list has one entry per item."""
    if len(y_true) == 0:
        raise ValueError("no test items")
    for pred in predictions:
        if len(pred) != len(y_true):
            raise ValueError(f"y_true has {len(y_true)} items but a prediction list has {len(pred)}")


def correct_per_item(y_true: Sequence, y_pred: Sequence, label_space: LabelSpace) -> np.ndarray:
    """Boolean (n,): prediction right (single-label) or exactly right (multi-label).

    An item whose prediction holds an unknown label is never right.
    """
    truth = label_space.encode(y_true)
    pred, invalid = encode_predictions(y_pred, label_space)
    return _exact_match(truth, pred, invalid)


def _exact_match(truth: np.ndarray, pred: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    if truth.ndim == 2:
        return np.all(truth == pred, axis=1) & ~invalid
    return truth == pred


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

    F1s come from scikit-learn with ``zero_division=0`` over every class of the label
    space, including classes absent from this test set (they score 0 in macro F1).
    Multi-label ``accuracy`` is subset accuracy (exact match of the label set).
    """
    from sklearn.metrics import confusion_matrix, f1_score, hamming_loss, precision_recall_fscore_support

    check_paired(y_true, y_pred)
    truth = label_space.encode(y_true)
    pred, invalid = encode_predictions(y_pred, label_space)
    names = label_space.names
    classes = list(range(len(names)))
    f1_args = {"labels": classes, "zero_division": 0}

    precision, recall, f1, support = precision_recall_fscore_support(truth, pred, **f1_args)
    out: dict = {
        "n": len(truth),
        "n_invalid": int(invalid.sum()),
        "accuracy": float(_exact_match(truth, pred, invalid).mean()),
        "micro_f1": float(f1_score(truth, pred, average="micro", **f1_args)),
        "macro_f1": float(f1_score(truth, pred, average="macro", **f1_args)),
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
        out["ece"] = expected_calibration_error(truth, proba)
        out["brier"] = brier_score(truth, proba)
        if not label_space.multi_label:
            out["nll"] = negative_log_likelihood(truth, proba)
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
    calibration = [f"{label} {m[key]:.4f}" for key, label in (("ece", "ECE"), ("brier", "Brier"), ("nll", "NLL")) if key in m]
    if calibration:
        lines.append("  ".join(calibration))
    if m.get("n_invalid"):
        lines.append(f"{m['n_invalid']} prediction(s) held labels outside the label space (never counted right)")
    width = max([5] + [len(name) for name in m["per_class"]])
    lines.append(f"{'class':<{width}}  precision  recall      f1  support")
    for name, c in m["per_class"].items():
        lines.append(f"{name:<{width}}  {c['precision']:9.4f}  {c['recall']:6.4f}  {c['f1']:6.4f}  {c['support']:7d}")
    return "\n".join(lines)
