"""Is classifier A really better than B on these test items? Paired tests.

Both tests are *paired*: A and B are scored on the same items, so item difficulty cancels
out and far smaller differences are detectable than by comparing two scores with
independent error bars.

- `mcnemar` asks whether A and B are right on different items more often one way than
  the other (per-item correctness; multi-label: exact match of the label set).
- `paired_bootstrap` resamples items (the same resample for A and B) to put confidence
  intervals on the difference of micro and macro F1, which are not per-item averages.
- `paired_tests` (any pairs: every method against a reference) and `compare_pairwise` (every pair of
  named predictions) control the family-wise error with `holm` when many pairs are tested.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain, combinations

import numpy as np

from causalclf.data.labels import LabelSpace
from causalclf.evaluation.metrics import check_paired, correct_per_item, encode_predictions, encode_truth
from causalclf.evaluation.thresholds import f1_from_counts

EXACT_BELOW = 25
"""McNemar uses the exact binomial test when fewer pairs than this are discordant."""
_CELLS_PER_CHUNK = 4_000_000  # resamples x items held at once: bounds memory at ~16 MB


@dataclass
class McNemarResult:
    """McNemar's test on per-item correctness of A and B."""

    statistic: float
    """min(n01, n10) for the exact test; (|n01 - n10| - 1)^2 / (n01 + n10) for chi2."""
    p_value: float
    """Two-sided p-value of "A and B have the same error rate"."""
    n01: int
    """Items A gets wrong and B gets right (Dietterich's n01)."""
    n10: int
    """Items A gets right and B gets wrong."""
    method: str
    """"exact" (binomial, fewer than 25 discordant pairs) or "chi2" (with continuity correction)."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DeltaEstimate:
    """A difference of scores, A minus B, with its bootstrap interval and p-value."""

    estimate: float
    """The difference on the test set as given (not a bootstrap mean)."""
    ci_low: float
    ci_high: float
    """Percentile interval of the resampled differences at the stated confidence."""
    p_value: float
    """Two-sided: 2 (1 + r) / (B + 1), capped at 1, where r is the number of the B
    resampled differences on the far side of zero (<= 0 when A is ahead, >= 0 when B is).
    It is the smallest 1 - confidence whose percentile interval still touches zero, with
    the usual +1 so that a finite resample never claims p = 0."""


@dataclass
class BootstrapResult:
    """Paired bootstrap of micro- and macro-F1 differences (A minus B)."""

    micro_f1: DeltaEstimate
    macro_f1: DeltaEstimate
    n_resamples: int
    confidence: float
    seed: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PairedTest:
    """Both tests for one pair (A minus B), with p-values Holm-adjusted over the pairs tested together."""

    mcnemar: McNemarResult
    bootstrap: BootstrapResult
    mcnemar_p_holm: float
    micro_f1_p_holm: float
    macro_f1_p_holm: float


@dataclass
class PairwiseComparison(PairedTest):
    """`PairedTest` of the named prediction sets `a` and `b`."""

    a: str = field(kw_only=True)
    b: str = field(kw_only=True)

    def to_dict(self) -> dict:
        return asdict(self)


def mcnemar(
    y_true: Sequence, pred_a: Sequence, pred_b: Sequence, label_space: LabelSpace | None = None
) -> McNemarResult:
    """McNemar's test (statsmodels): exact binomial below 25 discordant pairs, else chi2 with correction."""
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    check_paired(y_true, pred_a, pred_b)
    space = label_space or _infer_space(y_true, pred_a, pred_b)
    right_a = correct_per_item(y_true, pred_a, space)
    right_b = correct_per_item(y_true, pred_b, space)
    n01 = int(np.sum(~right_a & right_b))
    n10 = int(np.sum(right_a & ~right_b))
    exact = n01 + n10 < EXACT_BELOW
    table = [[int(np.sum(right_a & right_b)), n10], [n01, int(np.sum(~right_a & ~right_b))]]
    result = sm_mcnemar(table, exact=exact, correction=True)
    return McNemarResult(
        statistic=float(result.statistic),
        p_value=float(result.pvalue),
        n01=n01,
        n10=n10,
        method="exact" if exact else "chi2",
    )


def paired_bootstrap(
    y_true: Sequence,
    pred_a: Sequence,
    pred_b: Sequence,
    label_space: LabelSpace | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapResult:
    """Paired bootstrap of Δ micro-F1 and Δ macro-F1 (A minus B) over test items.

    Each resample draws n items with replacement, the same items for A and B. It is
    vectorised: a resample is a vector of item counts, and the per-class TP/FP/FN of
    every resample come out of one matrix product with per-item indicators.
    Without ``label_space`` the classes are those seen in the truth or either prediction;
    pass it to fix the class set, on which macro F1 depends.
    """
    if not 0 < confidence < 1:
        raise ValueError("confidence must lie in (0, 1)")
    check_paired(y_true, pred_a, pred_b)
    space = label_space or _infer_space(y_true, pred_a, pred_b)
    truth, _ = encode_truth(y_true, space)  # an unseen true label is a miss for every class, never a hit
    indicators = np.concatenate([_count_indicators(truth, pred, space) for pred in (pred_a, pred_b)], axis=1)
    k = len(space)

    def deltas(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b = counts[..., : 3 * k], counts[..., 3 * k :]
        return _micro_f1(a, k) - _micro_f1(b, k), _macro_f1(a, k) - _macro_f1(b, k)

    point_micro, point_macro = deltas(indicators.sum(0, dtype=np.float64))
    rng = np.random.default_rng(seed)
    n = len(truth)
    chunk = max(1, _CELLS_PER_CHUNK // max(n, 1))
    resampled = []
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        draws = rng.integers(0, n, size=(size, n)) + n * np.arange(size)[:, None]
        weights = np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(np.float32)
        resampled.append(weights @ indicators)
    micro, macro = deltas(np.concatenate(resampled).astype(np.float64))
    return BootstrapResult(
        micro_f1=_delta(point_micro, micro, confidence),
        macro_f1=_delta(point_macro, macro, confidence),
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (statsmodels), in the input order."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return p
    return multipletests(p, method="holm")[1]


def paired_tests(
    pairs: Sequence[tuple[Sequence, Sequence, Sequence]],
    label_space: LabelSpace,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> list[PairedTest]:
    """McNemar and the paired bootstrap for each ``(y_true, pred_a, pred_b)`` of `pairs`, A minus B.

    Holm's correction runs over all the pairs, separately for each of the three p-values
    (McNemar, Δ micro-F1, Δ macro-F1): each is its own family of hypotheses.
    """
    tests = [
        (mcnemar(y, a, b, label_space), paired_bootstrap(y, a, b, label_space, n_resamples, seed, confidence))
        for y, a, b in pairs
    ]
    adjusted = zip(
        holm([m.p_value for m, _ in tests]),
        holm([bs.micro_f1.p_value for _, bs in tests]),
        holm([bs.macro_f1.p_value for _, bs in tests]),
    )
    return [PairedTest(m, bs, float(pm), float(pmi), float(pma)) for (m, bs), (pm, pmi, pma) in zip(tests, adjusted)]


def compare_pairwise(
    y_true: Sequence,
    predictions: Mapping[str, Sequence],
    label_space: LabelSpace | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> list[PairwiseComparison]:
    """McNemar and paired bootstrap for every pair of named prediction sets on the same items, Holm-adjusted
    over all pairs (`paired_tests`)."""
    check_paired(y_true, *predictions.values())
    space = label_space or _infer_space(y_true, *predictions.values())
    names = list(combinations(predictions, 2))
    tests = paired_tests(
        [(y_true, predictions[a], predictions[b]) for a, b in names], space, n_resamples, seed, confidence
    )
    return [PairwiseComparison(**vars(t), a=a, b=b) for (a, b), t in zip(names, tests)]


def _infer_space(y_true: Sequence, *predictions: Sequence) -> LabelSpace:
    return LabelSpace.from_labels([y for y in chain(y_true, *predictions) if y is not None])


def _count_indicators(truth: np.ndarray, predictions: Sequence, space: LabelSpace) -> np.ndarray:
    """Per item, float32 (n, 3k): is it a TP, FP, FN of each class (the blocks in that order)."""
    pred, _ = encode_predictions(predictions, space)
    if space.multi_label:
        t, p = truth.astype(bool), pred.astype(bool)
    else:
        classes = np.arange(len(space))
        t, p = truth[:, None] == classes, pred[:, None] == classes
    return np.concatenate([t & p, ~t & p, t & ~p], axis=1).astype(np.float32)


def _micro_f1(counts: np.ndarray, k: int) -> np.ndarray:
    tp, fp, fn = (counts[..., i * k : (i + 1) * k].sum(-1) for i in range(3))
    return f1_from_counts(tp, fp, fn)


def _macro_f1(counts: np.ndarray, k: int) -> np.ndarray:
    tp, fp, fn = (counts[..., i * k : (i + 1) * k] for i in range(3))
    return f1_from_counts(tp, fp, fn).mean(-1)


def format_p(p: float) -> str:
    """A p-value as tables print it: three decimals, or "< 0.001"."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _delta(point: float, resampled: np.ndarray, confidence: float) -> DeltaEstimate:
    low, high = np.quantile(resampled, [(1 - confidence) / 2, (1 + confidence) / 2])
    far_side = np.sum(resampled <= 0) if point > 0 else np.sum(resampled >= 0) if point < 0 else len(resampled)
    p_value = min(1.0, 2 * (1 + far_side) / (len(resampled) + 1))
    return DeltaEstimate(estimate=float(point), ci_low=float(low), ci_high=float(high), p_value=float(p_value))
