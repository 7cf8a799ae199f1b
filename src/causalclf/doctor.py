"""`causalclf doctor MODEL_DIR`: does a saved classifier behave as a classifier must?

Each check runs the model on probe texts of very different lengths (or the user's texts):

- valid probabilities: finite, in [0, 1], rows summing to 1 for single-label;
- deterministic: predicting the same texts twice gives the same probabilities (no dropout
  left on, no sampling);
- padding invariance: a text predicted alone gets the probabilities it gets in a batch
  with longer and shorter texts. This is what breaks when pooling reads pad tokens, the
  padding side is wrong for the pooling, or an attention mask is dropped;
- save/load round trip: saving to a fresh folder and loading it back changes nothing.

A failed check names the worst text and the size of the difference.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from causalclf.methods.base import Classifier

PROBE_TEXTS = [
    "Yes.",
    "The meeting was moved to Thursday afternoon.",
    "Shares in the company fell sharply after it warned that profits would be lower than expected, "
    "and analysts cut their forecasts for the rest of the year.",
    " ".join(
        [
            "The committee published its report on Monday, covering the budget, the new building, the staff "
            "survey and the plans for next season, and it asked every department to reply within a month."
        ]
        * 6
    ),
    "A short note about the weather: cold, then rain.",
]


@dataclass
class Check:
    """The outcome of one check."""

    name: str
    passed: bool | None
    """True or False; None when the check does not apply to this classifier."""
    detail: str
    worst: float | None = None
    """The largest difference found (probability units), where the check measures one."""


def _max_diff(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    per_text = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max(axis=1)
    return float(per_text.max()), int(per_text.argmax())


def _short(text: str, n: int = 40) -> str:
    return repr(text if len(text) <= n else text[:n] + "...")


def diagnose(clf: Classifier, texts: Sequence[str] | None = None, tolerance: float = 1e-4) -> list[Check]:
    """Run every check on `texts` (default: `PROBE_TEXTS`); differences above `tolerance` fail."""
    texts = list(texts or PROBE_TEXTS)
    if len(texts) < 2:
        raise ValueError("doctor needs at least 2 texts, of different lengths, to test padding")
    try:
        proba = np.asarray(clf.predict_proba(texts))
    except NotImplementedError as e:
        return [Check("probabilities", None, f"not applicable: {e}")]
    checks = [_valid(clf, proba)]

    again = np.asarray(clf.predict_proba(texts))
    diff, i = _max_diff(proba, again)
    checks.append(
        Check(
            "deterministic",
            diff <= tolerance,
            f"largest change between two identical calls {diff:.2e} (text {i}: {_short(texts[i])})",
            diff,
        )
    )

    alone = np.stack([np.asarray(clf.predict_proba([t]))[0] for t in texts])
    diff, i = _max_diff(proba, alone)
    checks.append(
        Check(
            "padding invariance",
            diff <= tolerance,
            f"largest alone-vs-batched difference {diff:.2e} (text {i}: {_short(texts[i])})",
            diff,
        )
    )

    with tempfile.TemporaryDirectory() as tmp:
        reloaded = type(clf).from_pretrained(clf.save_pretrained(Path(tmp) / "model"))
        diff, i = _max_diff(proba, reloaded.predict_proba(texts))
    checks.append(
        Check(
            "save/load round trip",
            diff <= tolerance,
            f"largest difference after reloading {diff:.2e} (text {i}: {_short(texts[i])})",
            diff,
        )
    )
    return checks


def _valid(clf: Classifier, proba: np.ndarray) -> Check:
    n_labels = len(clf.labels_)
    if proba.ndim != 2 or proba.shape[1] != n_labels:
        return Check("valid probabilities", False, f"shape {proba.shape}, expected (n, {n_labels})")
    if not np.isfinite(proba).all():
        return Check("valid probabilities", False, f"{int((~np.isfinite(proba)).sum())} values are NaN or infinite")
    if proba.min() < 0 or proba.max() > 1:
        return Check(
            "valid probabilities", False, f"values outside [0, 1]: min {proba.min():.3g}, max {proba.max():.3g}"
        )
    if not clf.multi_label:
        worst = float(np.abs(proba.sum(axis=1) - 1).max())
        if worst > 1e-4:
            return Check("valid probabilities", False, f"rows sum to 1 +- {worst:.2e}", worst)
    return Check(
        "valid probabilities",
        True,
        f"{proba.shape[0]} x {n_labels}, finite, in [0, 1]" + ("" if clf.multi_label else ", rows sum to 1"),
    )


def format_checks(checks: list[Check]) -> str:
    mark = {True: "ok  ", False: "FAIL", None: "n/a "}
    return "\n".join(f"{mark[c.passed]}  {c.name:22s} {c.detail}" for c in checks)
