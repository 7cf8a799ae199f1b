"""Decision thresholds for multi-label classifiers, tuned on validation scores.

A sigmoid output of 0.5 is the right cut only for a calibrated model with balanced
costs; rare classes usually need a lower one. `tune_thresholds` picks, from the
validation scores themselves, the thresholds that maximise micro or macro F1.

Candidates are 0.5, the midpoints between consecutive distinct scores of the class
(any threshold strictly between two scores gives the same decisions, and the midpoint
leaves the widest margin on both sides), the lowest score (everything positive) and a
value just above the highest (nothing positive). Decisions are ``score >= threshold``,
as in `Classifier.decide`. Among equally good candidates the one closest to 0.5 wins,
so a threshold moves away from the default only when the validation data pays for it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

DEFAULT_THRESHOLD = 0.5
_MAX_SWEEPS = 20  # coordinate ascent on micro F1 converges in a handful of sweeps


def tune_thresholds(
    y_true: np.ndarray,
    scores: np.ndarray,
    average: Literal["macro", "micro"] = "macro",
    per_class: bool = True,
) -> np.ndarray:
    """Thresholds, shape (k,), that maximise ``average`` F1 of ``scores >= t`` on ``y_true``.

    Args:
        y_true: multi-hot truth, shape (n, k).
        scores: probabilities (or any scores) for the same items and classes, shape (n, k).
        average: "macro" (mean of per-class F1) or "micro" (F1 of pooled counts).
        per_class: True for one threshold per class; False for a single threshold
            shared by every class (returned repeated k times).

    Per-class macro F1 is separable, so each class is tuned on its own. Per-class micro
    F1 is not (every class's counts enter the pooled F1), so it is maximised by
    coordinate ascent: each class in turn takes its best threshold given the others,
    until no threshold changes. Per-class tuning leaves classes without a single
    positive in ``y_true`` at 0.5: there is nothing to tune them on. A global threshold
    is applied to every class, those included.
    """
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 2 or s.shape != y.shape:
        raise ValueError(f"y_true and scores must both be (n, k); got {y.shape} and {s.shape}")
    if average not in ("macro", "micro"):
        raise ValueError(f"average must be 'macro' or 'micro', not {average!r}")
    k = y.shape[1]
    if y.shape[0] == 0:
        return np.full(k, DEFAULT_THRESHOLD)

    if not per_class:
        candidates = _candidates(s.ravel())
        counts = [_counts_at(y[:, j], s[:, j], candidates) for j in range(k)]
        tp, fp, fn = (np.stack([c[i] for c in counts]) for i in range(3))  # (k, C)
        if average == "micro":
            objective = f1_from_counts(tp.sum(0), fp.sum(0), fn.sum(0))
        else:
            objective = f1_from_counts(tp, fp, fn).mean(0)
        return np.full(k, _best(candidates, objective))

    thresholds = np.full(k, DEFAULT_THRESHOLD)
    tunable = [j for j in range(k) if y[:, j].any()]
    per_class_counts: dict[int, tuple] = {}
    for j in tunable:
        candidates = _candidates(s[:, j])
        per_class_counts[j] = (candidates, *_counts_at(y[:, j], s[:, j], candidates))
        if average == "macro":
            thresholds[j] = _best(candidates, f1_from_counts(*per_class_counts[j][1:]))
    if average == "macro":
        return thresholds

    # Pooled counts at the current thresholds; each class's contribution is swapped out
    # and back in as its threshold moves.
    current = np.array([np.concatenate(_counts_at(y[:, j], s[:, j], thresholds[j : j + 1])) for j in range(k)])
    for _ in range(_MAX_SWEEPS):
        changed = False
        for j in tunable:
            rest = current.sum(0) - current[j]
            candidates, tp, fp, fn = per_class_counts[j]
            t = _best(candidates, f1_from_counts(tp + rest[0], fp + rest[1], fn + rest[2]))
            if t != thresholds[j]:
                thresholds[j] = t
                current[j] = np.concatenate(_counts_at(y[:, j], s[:, j], thresholds[j : j + 1]))
                changed = True
        if not changed:
            break
    return thresholds


def _candidates(values: np.ndarray) -> np.ndarray:
    u = np.unique(values)
    above_all = np.nextafter(u[-1], np.inf)
    return np.unique(np.concatenate([[DEFAULT_THRESHOLD, u[0], above_all], (u[1:] + u[:-1]) / 2]))


def _counts_at(y: np.ndarray, s: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tp, fp, fn of ``s >= t`` for every t at once, via one sort and a suffix sum."""
    order = np.argsort(s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    positives_from = np.concatenate([np.cumsum(y_sorted[::-1])[::-1], [0]])  # positives in s_sorted[i:]
    first_kept = np.searchsorted(s_sorted, thresholds, side="left")
    predicted = len(s) - first_kept
    tp = positives_from[first_kept]
    return tp, predicted - tp, y_sorted.sum() - tp


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 from true/false positive and false negative counts, elementwise; 0 where all three are 0."""
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros(np.shape(denom)), where=denom > 0)


def _best(candidates: np.ndarray, objective: np.ndarray) -> float:
    top = objective >= objective.max() - 1e-12
    closest = np.argmin(np.where(top, np.abs(candidates - DEFAULT_THRESHOLD), np.inf))
    return float(candidates[closest])
