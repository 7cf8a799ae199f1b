import time

import numpy as np
import pytest
from scipy.stats import chi2
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from causalclf.data.labels import LabelSpace
from causalclf.evaluation import classification_metrics, compare_pairwise, holm, mcnemar, paired_bootstrap

SPACE = LabelSpace(["a", "b", "c"])


def _predictions_from_table(both, only_a, only_b, neither):
    """Label lists realising a McNemar table: "x" is always right, "y" always wrong."""
    right_a = [True] * both + [True] * only_a + [False] * only_b + [False] * neither
    right_b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    truth = ["x"] * len(right_a)
    return truth, ["x" if r else "y" for r in right_a], ["x" if r else "y" for r in right_b]


@pytest.mark.parametrize("seed", range(20))
def test_mcnemar_equals_statsmodels_on_random_tables(seed):
    rng = np.random.default_rng(seed)
    both, neither = rng.integers(0, 50, 2)
    only_a, only_b = rng.integers(0, 30, 2) if seed % 2 else rng.integers(0, 12, 2)
    result = mcnemar(*_predictions_from_table(both, only_a, only_b, neither))
    assert (result.n10, result.n01) == (only_a, only_b)
    exact = only_a + only_b < 25
    assert result.method == ("exact" if exact else "chi2")
    expected = sm_mcnemar([[both, only_a], [only_b, neither]], exact=exact, correction=True)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.statistic == pytest.approx(expected.statistic)


def test_mcnemar_hand_worked_values():
    # Exact: 12 discordant pairs split 10/2, p = 2 P(X <= 2), X ~ Bin(12, 1/2) = 2 (1 + 12 + 66) / 4096
    assert mcnemar(*_predictions_from_table(40, 10, 2, 5)).p_value == pytest.approx(158 / 4096)
    # chi2: 30/15 -> (|30 - 15| - 1)^2 / 45 = 196 / 45
    result = mcnemar(*_predictions_from_table(40, 30, 15, 5))
    assert result.statistic == pytest.approx(196 / 45)
    assert result.p_value == pytest.approx(chi2.sf(196 / 45, df=1))


def test_mcnemar_multi_label_uses_exact_match():
    space = LabelSpace(["a", "b"], multi_label=True)
    truth = [["a", "b"], ["a"], []]
    result = mcnemar(truth, [["a", "b"], ["a", "b"], []], [["a"], ["a"], []], space)
    assert (result.n10, result.n01) == (1, 1)


def _single_label(seed, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    a = np.where(rng.random(n) < 0.8, y, rng.integers(0, 3, n))
    b = np.where(rng.random(n) < 0.7, y, rng.integers(0, 3, n))
    return SPACE.decode(y), SPACE.decode(a), SPACE.decode(b)


def test_bootstrap_point_estimates_equal_metric_differences():
    y, a, b = _single_label(0, 500)
    result = paired_bootstrap(y, a, b, SPACE)
    ma, mb = classification_metrics(y, a, SPACE), classification_metrics(y, b, SPACE)
    assert result.micro_f1.estimate == pytest.approx(ma["micro_f1"] - mb["micro_f1"])
    assert result.macro_f1.estimate == pytest.approx(ma["macro_f1"] - mb["macro_f1"])
    for d in (result.micro_f1, result.macro_f1):
        # 95% interval clear of zero <=> p below .05 (the p-value inverts the interval)
        assert 0 < d.ci_low < d.estimate < d.ci_high and d.p_value < 0.05
    # Swapping A and B mirrors everything.
    swapped = paired_bootstrap(y, b, a, SPACE)
    assert swapped.micro_f1.estimate == pytest.approx(-result.micro_f1.estimate)
    assert swapped.micro_f1.p_value == result.micro_f1.p_value


def test_bootstrap_multi_label_point_estimates():
    space = LabelSpace(["a", "b", "c"], multi_label=True)
    rng = np.random.default_rng(1)
    Y = (rng.random((300, 3)) < 0.3).astype(int)
    A = np.where(rng.random((300, 3)) < 0.9, Y, 1 - Y)
    B = np.where(rng.random((300, 3)) < 0.8, Y, 1 - Y)
    y, a, b = space.decode(Y), space.decode(A), space.decode(B)
    result = paired_bootstrap(y, a, b, space)
    ma, mb = classification_metrics(y, a, space), classification_metrics(y, b, space)
    assert result.micro_f1.estimate == pytest.approx(ma["micro_f1"] - mb["micro_f1"])
    assert result.macro_f1.estimate == pytest.approx(ma["macro_f1"] - mb["macro_f1"])


def test_bootstrap_is_seeded_identical_predictions_give_p_one_and_is_fast():
    y, a, b = _single_label(2, 2000)
    assert paired_bootstrap(y, a, b, SPACE, seed=3) == paired_bootstrap(y, a, b, SPACE, seed=3)
    same = paired_bootstrap(y, a, a, SPACE)
    assert same.micro_f1.estimate == 0 and same.micro_f1.p_value == 1.0
    start = time.perf_counter()
    paired_bootstrap(y, a, b, SPACE, n_resamples=1000)
    assert time.perf_counter() - start < 1.0


# Population for the coverage test: 3 classes with priors PI; classifier X is right on an
# item of class c with probability ACC[X][c], and otherwise answers one of the two other
# classes at random. A and B share a latent difficulty u (B reuses A's u with probability
# 0.7), so their errors are strongly correlated, as for two models on one test set.
PI = np.array([0.5, 0.3, 0.2])
ACC = {"a": np.array([0.85, 0.7, 0.6]), "b": np.array([0.8, 0.75, 0.5])}


def _population_f1(acc):
    """Population micro/macro F1: per-class rates of TP, FN and FP in the limit of infinitely many items."""
    tp = PI * acc
    fn = PI * (1 - acc)
    fp = np.array([sum(PI[o] * (1 - acc[o]) / 2 for o in range(3) if o != c) for c in range(3)])
    micro = tp.sum()  # single-label micro F1 is accuracy
    return micro, np.mean(2 * tp / (2 * tp + fp + fn))


def _draw(rng, n):
    y = rng.choice(3, size=n, p=PI)
    u = rng.random(n)
    u_b = np.where(rng.random(n) < 0.7, u, rng.random(n))

    def answer(right):
        wrong = (y + rng.integers(1, 3, n)) % 3
        return np.where(right, y, wrong)

    return y, answer(u < ACC["a"][y]), answer(u_b < ACC["b"][y])


def test_paired_bootstrap_interval_covers_the_population_delta_at_the_stated_rate():
    """The truth is the population difference of F1 (what a second, infinite test set would show).

    Every trial draws a fresh test set of 300 items from the population and asks whether
    the 95% interval contains that difference. An unpaired bootstrap would over-cover
    (the correlation between A and B would be lost); a broken one would under-cover.
    1,500 trials put the Monte Carlo standard error of the coverage at 0.56 points, so
    the 2-point band is 3.6 standard errors wide (3,000 trials measured 95.1% and 94.6%).
    """
    true_micro, true_macro = np.subtract(_population_f1(ACC["a"]), _population_f1(ACC["b"]))
    rng = np.random.default_rng(12345)
    trials, covered_micro, covered_macro = 1500, 0, 0
    for trial in range(trials):
        y, a, b = (SPACE.decode(v) for v in _draw(rng, 300))
        r = paired_bootstrap(y, a, b, SPACE, n_resamples=1000, seed=trial)
        covered_micro += r.micro_f1.ci_low <= true_micro <= r.micro_f1.ci_high
        covered_macro += r.macro_f1.ci_low <= true_macro <= r.macro_f1.ci_high
    assert abs(covered_micro / trials - 0.95) <= 0.02
    assert abs(covered_macro / trials - 0.95) <= 0.02


def test_holm_matches_hand_computation():
    # Sorted .01, .02, .04 -> x3, x2, x1 = .03, .04, .04 (monotone), back in input order.
    np.testing.assert_allclose(holm([0.04, 0.01, 0.02]), [0.04, 0.03, 0.04])
    assert holm([]).size == 0


def test_compare_pairwise_adjusts_every_pair():
    y, a, b = _single_label(5, 400)
    _, c, _ = _single_label(6, 400)
    comparisons = compare_pairwise(y, {"A": a, "B": b, "C": c}, SPACE, n_resamples=300)
    assert [(c.a, c.b) for c in comparisons] == [("A", "B"), ("A", "C"), ("B", "C")]
    raw = [c.mcnemar.p_value for c in comparisons]
    np.testing.assert_allclose([c.mcnemar_p_holm for c in comparisons], holm(raw))
    for comp in comparisons:
        assert comp.mcnemar_p_holm >= comp.mcnemar.p_value
        assert comp.macro_f1_p_holm >= comp.bootstrap.macro_f1.p_value
        assert set(comp.to_dict()) >= {"a", "b", "mcnemar", "bootstrap"}


def test_unpaired_inputs_are_refused():
    with pytest.raises(ValueError):
        mcnemar(["a", "b"], ["a"], ["a", "b"])
    with pytest.raises(ValueError):
        paired_bootstrap(["a", "b"], ["a", "b"], ["a"])
    with pytest.raises(ValueError):
        paired_bootstrap([], [], [])
