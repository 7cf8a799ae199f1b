"""Calibration: do the probabilities mean what they say?

Two shapes of truth are accepted everywhere in this module:

- single-label: ``y_true`` holds integer class ids, shape (n,), and ``proba`` is a
  row-stochastic (n, k) matrix. Calibration is *top-label*: the confidence of an item is
  its largest probability and the outcome is whether that argmax is right.
- multi-label: ``y_true`` is multi-hot, shape (n, k), and ``proba`` holds k independent
  sigmoid probabilities per item. Every (item, class) pair is one binary forecast: the
  confidence is the probability of "present" and the outcome is whether it is present.
  This is the reliability of the numbers a multi-label model actually emits, pooled
  over classes (so frequent negatives near 0 weigh in, as they do in use).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.special import log_expit, log_softmax

if TYPE_CHECKING:
    from matplotlib.axes import Axes

BinStrategy = Literal["uniform", "quantile"]
_LOG_T_BOUNDS = (np.log(1e-2), np.log(1e2))


@dataclass
class CalibrationBins:
    """Forecasts grouped by confidence; empty bins are dropped."""

    confidence: np.ndarray
    """Mean confidence of the forecasts in each bin."""
    accuracy: np.ndarray
    """Share of forecasts in each bin whose outcome happened (top label right / class present)."""
    count: np.ndarray
    """Number of forecasts in each bin."""

    @property
    def ece(self) -> float:
        """Count-weighted mean of |accuracy - confidence| over bins."""
        total = self.count.sum()
        if total == 0:
            return 0.0
        return float(np.sum(self.count * np.abs(self.accuracy - self.confidence)) / total)


def forecasts(y_true: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten to binary forecasts: (confidence, outcome in {0, 1}), as the module docstring says."""
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"proba must be (n, k); got shape {p.shape}")
    if y.ndim == 2:
        if y.shape != p.shape:
            raise ValueError(f"multi-hot y_true {y.shape} and proba {p.shape} differ in shape")
        return p.ravel(), y.astype(np.float64).ravel()
    if y.shape != (p.shape[0],):
        raise ValueError(f"y_true must be (n,) class ids for proba of shape {p.shape}; got {y.shape}")
    return p.max(axis=1), (p.argmax(axis=1) == y).astype(np.float64)


def calibration_bins(
    y_true: np.ndarray, proba: np.ndarray, n_bins: int = 15, strategy: BinStrategy = "uniform"
) -> CalibrationBins:
    """Group forecasts into ``n_bins`` bins of equal width ("uniform") or equal mass ("quantile").

    Uniform bins are (i/n_bins, (i+1)/n_bins], the first one closed at 0. Quantile bins
    split the forecasts sorted by confidence into n_bins groups of (nearly) equal size,
    so no bin is starved where the model rarely ventures.
    """
    conf, outcome = forecasts(y_true, proba)
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    if strategy == "uniform":
        which = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    elif strategy == "quantile":
        which = np.empty(len(conf), dtype=int)
        which[np.argsort(conf, kind="stable")] = np.arange(len(conf)) * n_bins // max(len(conf), 1)
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', not {strategy!r}")
    count = np.bincount(which, minlength=n_bins)
    keep = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=conf, minlength=n_bins) / count
        acc = np.bincount(which, weights=outcome, minlength=n_bins) / count
    return CalibrationBins(confidence=mean_conf[keep], accuracy=acc[keep], count=count[keep])


def expected_calibration_error(
    y_true: np.ndarray, proba: np.ndarray, n_bins: int = 15, strategy: BinStrategy = "uniform"
) -> float:
    """Expected calibration error: top-label for single-label, pooled binary for multi-label."""
    return calibration_bins(y_true, proba, n_bins=n_bins, strategy=strategy).ece


def brier_score(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Brier score, lower is better.

    Single-label: mean over items of sum_k (p_k - [y == k])^2, Brier's original multi-class
    form (range [0, 2]). Multi-label: mean over all (item, class) pairs of (p - y)^2
    (range [0, 1]). Written out because scikit-learn's multi-class form needs >= 1.7 and
    rescales the two-class case.
    """
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    if y.ndim == 2:
        return float(np.mean((p - y) ** 2))
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def logit_nll(logits: np.ndarray, y_true: np.ndarray, multi_label: bool = False) -> float:
    """Mean NLL of raw scores: softmax cross-entropy, or binary cross-entropy per (item, class)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y_true)
    if multi_label:
        return -float(np.mean(y * log_expit(z) + (1 - y) * log_expit(-z)))
    return -float(np.mean(log_softmax(z, axis=1)[np.arange(len(y)), y]))


def temperature_scale(logits: np.ndarray, y_true: np.ndarray, multi_label: bool = False) -> float | np.ndarray:
    """Temperature T minimising validation NLL of softmax(logits / T) or sigmoid(logits / T).

    Single-label: one scalar T (argmax, hence accuracy, is unchanged). Multi-label: one T
    per class, each fitted on that class's binary cross-entropy; a class whose validation
    labels are all 0 or all 1 keeps T = 1, since there its NLL only falls as T -> 0 and
    the fit would merely make the model overconfident. The search runs over log T in
    [log 0.01, log 100] (bounded Brent), which keeps T positive and treats halving and
    doubling alike. The result goes straight into ``Classifier.temperature_``.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y_true)
    if not multi_label:
        return float(np.exp(_minimise(_nll_at_log_temperature(z, y, multi_label=False))))
    temperatures = np.ones(z.shape[1])
    for j in range(z.shape[1]):
        if y[:, j].min() == y[:, j].max():
            continue
        temperatures[j] = np.exp(_minimise(_nll_at_log_temperature(z[:, j], y[:, j], multi_label=True)))
    return temperatures


def _nll_at_log_temperature(z: np.ndarray, y: np.ndarray, multi_label: bool):
    return lambda log_t: logit_nll(z / np.exp(log_t), y, multi_label=multi_label)


def _minimise(fun) -> float:
    from scipy.optimize import minimize_scalar  # most of a second to import: loaded when a temperature is fitted

    return float(minimize_scalar(fun, bounds=_LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6}).x)


def negative_log_likelihood(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Mean NLL of the true class (single-label), via scikit-learn's log_loss over all k columns."""
    from sklearn.metrics import log_loss

    p = np.asarray(proba, dtype=np.float64)
    return float(log_loss(np.asarray(y_true), p, labels=np.arange(p.shape[1])))


def reliability_diagram(
    y_true: np.ndarray,
    proba: np.ndarray,
    ax: Axes | None = None,
    path: str | Path | None = None,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
    title: str | None = None,
) -> Axes:
    """Plot accuracy against confidence per bin, with the diagonal of perfect calibration.

    Draws into ``ax`` when given, else into a new figure; saves the figure to ``path``
    when given. Uses matplotlib's object API (no pyplot), so no backend or global state
    is touched and it runs headless.
    """
    bins = calibration_bins(y_true, proba, n_bins=n_bins, strategy=strategy)
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(4.2, 4.2), layout="constrained").add_subplot()
    share = bins.count / max(bins.count.sum(), 1)
    ax.bar(bins.confidence, share, width=0.9 / n_bins, color="0.85", label="share of forecasts")
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.5", linewidth=1, label="perfect calibration")
    ax.plot(bins.confidence, bins.accuracy, marker="o", color="C0", label=f"model (ECE {bins.ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("observed frequency")
    ax.set_title(title or f"Reliability ({strategy} bins)")
    ax.legend(loc="upper left", fontsize="small")
    if path is not None:
        ax.figure.savefig(path, dpi=110)
    return ax
