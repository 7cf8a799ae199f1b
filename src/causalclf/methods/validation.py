"""The validation score that picks the best weights while training (higher is better).

Macro-F1 of the decisions the classifier would make: argmax for single-label; for
multi-label, per-class thresholds tuned on these same validation scores, because a
multi-label model is always deployed with tuned thresholds and a fixed 0.5 cut would
rank checkpoints by calibration rather than by how well they separate the classes.
"""

from __future__ import annotations

import numpy as np

from causalclf.methods.base import Classifier


def tuned_thresholds(clf: Classifier, logits: np.ndarray, y: np.ndarray, average: str = "macro") -> np.ndarray:
    """Per-class thresholds maximising `average` F1 of ``clf``'s probabilities on multi-hot `y`."""
    from causalclf.evaluation.thresholds import tune_thresholds

    return np.asarray(tune_thresholds(y, clf.proba_from_logits(logits), average=average, per_class=True))


def validation_f1(clf: Classifier, logits: np.ndarray, y: np.ndarray, average: str = "macro") -> float:
    """Macro-F1 of `clf`'s decisions from raw `logits` against encoded labels `y`."""
    from sklearn.metrics import f1_score

    proba = clf.proba_from_logits(logits)
    if clf.multi_label:
        pred = proba >= tuned_thresholds(clf, logits, y, average)[None, :]
        return float(f1_score(y, pred, average="macro", zero_division=0))
    return float(f1_score(y, proba.argmax(1), average="macro", zero_division=0))
