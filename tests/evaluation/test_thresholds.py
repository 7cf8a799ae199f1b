import numpy as np
import pytest
from sklearn.metrics import f1_score

from causalclf.evaluation import tune_thresholds
from causalclf.evaluation.thresholds import _candidates


def _imbalanced(n=600, k=4, seed=0):
    """Rare classes whose scores sit well below 0.5 even for positives (an under-confident model)."""
    rng = np.random.default_rng(seed)
    prevalence = np.array([0.3, 0.1, 0.05, 0.02])[:k]
    y = (rng.random((n, k)) < prevalence).astype(int)
    scores = np.clip(0.08 + 0.25 * y + rng.normal(0, 0.07, (n, k)), 0, 1)
    return y, scores


@pytest.mark.parametrize("average", ["macro", "micro"])
@pytest.mark.parametrize("per_class", [True, False])
def test_tuned_thresholds_beat_half_on_imbalanced_toy(average, per_class):
    y, s = _imbalanced(seed=1)
    y_test, s_test = _imbalanced(seed=2)
    t = tune_thresholds(y, s, average=average, per_class=per_class)
    assert t.shape == (4,)
    base = f1_score(y_test, s_test >= 0.5, average=average, zero_division=0)
    tuned = f1_score(y_test, s_test >= t, average=average, zero_division=0)
    assert tuned > base + 0.3
    if not per_class:
        assert np.all(t == t[0])


def test_per_class_macro_is_the_best_candidate_for_each_class():
    y, s = _imbalanced(n=200, seed=3)
    t = tune_thresholds(y, s, average="macro")
    for j in range(y.shape[1]):
        brute = [f1_score(y[:, j], s[:, j] >= c, zero_division=0) for c in _candidates(s[:, j])]
        assert f1_score(y[:, j], s[:, j] >= t[j], zero_division=0) == pytest.approx(max(brute))


def test_per_class_micro_is_at_least_as_good_as_global_and_per_class_macro():
    y, s = _imbalanced(n=300, seed=4)
    micro = lambda t: f1_score(y, s >= t, average="micro", zero_division=0)  # noqa: E731
    tuned = micro(tune_thresholds(y, s, average="micro", per_class=True))
    # Coordinate ascent starts at 0.5 and only climbs, but it must also reach at least
    # the global optimum here, or it is stuck.
    assert tuned >= micro(tune_thresholds(y, s, average="micro", per_class=False)) - 1e-12
    assert tuned >= micro(np.full(y.shape[1], 0.5))


def test_ties_resolve_toward_half_and_unseen_classes_keep_half():
    # Class 0 separates perfectly for any threshold in (0.2, 0.8]: 0.5 must be kept.
    # Class 1 has no positive at all: nothing to tune on.
    y = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])
    s = np.array([[0.8, 0.9], [0.9, 0.1], [0.2, 0.7], [0.1, 0.2]])
    np.testing.assert_array_equal(tune_thresholds(y, s), [0.5, 0.5])
    # Separable only above 0.5: the optimal interval is (0.6, 0.7]; 0.65 (midpoint) is the
    # candidate in it closest to 0.5.
    y = np.array([[1], [0], [0]])
    s = np.array([[0.7], [0.6], [0.1]])
    assert tune_thresholds(y, s)[0] == pytest.approx(0.65)


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        tune_thresholds(np.zeros((3, 2)), np.zeros((3, 3)))
