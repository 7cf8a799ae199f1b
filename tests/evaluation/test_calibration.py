from dataclasses import dataclass

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.metrics import brier_score_loss, log_loss

from causalclf.evaluation import brier_score, expected_calibration_error, reliability_diagram, temperature_scale
from causalclf.evaluation.calibration import calibration_bins, logit_nll, negative_log_likelihood
from causalclf.methods.base import Classifier
from causalclf.methods.params import MethodParams

# Four items, three classes.   top prob (confidence)   argmax right?
PROBA = np.array(
    [
        [0.90, 0.05, 0.05],  # 0.90, y=0 -> right
        [0.70, 0.20, 0.10],  # 0.70, y=1 -> wrong
        [0.40, 0.30, 0.30],  # 0.40, y=0 -> right
        [0.20, 0.45, 0.35],  # 0.45, y=2 -> wrong
    ]
)
Y = np.array([0, 1, 0, 2])


def test_ece_hand_worked_uniform_bins():
    # Two bins, (0, .5] and (.5, 1]:
    #   low  bin: confidences .40, .45 -> mean .425, accuracy 1/2 -> gap .075, weight 2/4
    #   high bin: confidences .90, .70 -> mean .800, accuracy 1/2 -> gap .300, weight 2/4
    #   ECE = .5 * .075 + .5 * .300 = .1875
    assert expected_calibration_error(Y, PROBA, n_bins=2) == pytest.approx(0.1875)


def test_ece_hand_worked_quantile_bins():
    # Four equal-mass bins hold one item each: gaps |1-.4|, |0-.45|, |0-.7|, |1-.9|
    #   = .6 + .45 + .7 + .1 = 1.85, mean .4625
    assert expected_calibration_error(Y, PROBA, n_bins=4, strategy="quantile") == pytest.approx(0.4625)
    # With 15 uniform bins the items fall in four different bins: the same per-item gaps.
    assert expected_calibration_error(Y, PROBA, n_bins=15) == pytest.approx(0.4625)


def test_ece_multi_label_pools_item_class_pairs():
    # Forecasts (p, present): (.8, 1), (.3, 0), (.6, 0), (.1, 0). Two uniform bins:
    #   low : .3, .1 -> mean .2, frequency 0   -> gap .2
    #   high: .8, .6 -> mean .7, frequency 1/2 -> gap .2     ECE = .2
    y = np.array([[1, 0], [0, 0]])
    p = np.array([[0.8, 0.3], [0.6, 0.1]])
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.2)


def test_quantile_bins_have_equal_mass_and_ece_vanishes_when_calibrated():
    rng = np.random.default_rng(0)
    p1 = rng.random(20000)
    y = (rng.random(20000) < p1).astype(int)
    p = np.stack([1 - p1, p1], axis=1)
    bins = calibration_bins(y, p, 10, "quantile")
    np.testing.assert_array_equal(bins.count, np.full(10, 2000))
    for strategy in ("uniform", "quantile"):
        assert expected_calibration_error(y, p, strategy=strategy) < 0.02
    # A model that is always 100% sure of a 50/50 coin is off by .5.
    assert expected_calibration_error(np.array([0, 1] * 50), np.tile([[1.0, 0.0]], (100, 1))) == pytest.approx(0.5)


def test_brier_and_nll_agree_with_scikit_learn():
    assert brier_score(Y, PROBA) == pytest.approx(brier_score_loss(Y, PROBA, labels=[0, 1, 2]))
    assert negative_log_likelihood(Y, PROBA) == pytest.approx(log_loss(Y, PROBA))
    y = np.array([[1, 0], [0, 1]])
    p = np.array([[0.8, 0.3], [0.6, 0.1]])
    # (.2^2 + .3^2 + .6^2 + .9^2) / 4
    assert brier_score(y, p) == pytest.approx((0.04 + 0.09 + 0.36 + 0.81) / 4)


def _overconfident(n, k, seed, multi_label=False):
    """Labels drawn from calibrated logits z; the model reports 3 z."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, k))
    if multi_label:
        y = (rng.random((n, k)) < expit(z)).astype(int)
    else:
        y = np.array([rng.choice(k, p=row) for row in softmax(z, axis=1)])
    return 3 * z, y


@pytest.mark.parametrize("multi_label", [False, True])
def test_temperature_scaling_undoes_overconfidence(multi_label):
    val_logits, val_y = _overconfident(3000, 4, seed=1, multi_label=multi_label)
    test_logits, test_y = _overconfident(3000, 4, seed=2, multi_label=multi_label)
    t = temperature_scale(val_logits, val_y, multi_label=multi_label)
    if multi_label:
        assert np.shape(t) == (4,)
    else:
        assert isinstance(t, float)
    np.testing.assert_allclose(t, 3.0, rtol=0.15)
    before = logit_nll(test_logits, test_y, multi_label)
    after = logit_nll(test_logits / np.asarray(t), test_y, multi_label)
    assert after < before - 0.1


def test_temperature_keeps_one_for_a_class_without_positives():
    logits = np.random.default_rng(0).normal(size=(50, 2))
    y = np.zeros((50, 2), dtype=int)
    y[:25, 0] = 1
    t = temperature_scale(logits, y, multi_label=True)
    assert t[1] == 1.0 and t[0] != 1.0


def test_reliability_diagram_writes_png(tmp_path):
    path = tmp_path / "rel.png"
    ax = reliability_diagram(Y, PROBA, path=path, n_bins=5)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("ECE 0.463" in text.get_text() for text in ax.get_legend().get_texts())


@dataclass(repr=False, eq=False)
class _FixedLogitsParams(MethodParams):
    table: dict | None = None


class _FixedLogits(_FixedLogitsParams, Classifier):
    """The smallest Classifier (its parameters' dataclass and the interface): logits looked up by text, to exercise
    the base's temperature path."""

    method_name = "fixed-logits-test"

    def fit(self, texts, labels, validation=None):
        self._init_labels(labels)
        return self

    def _logits(self, texts):
        return np.stack([self.table[t] for t in texts])

    @property
    def trainable_parameters(self):
        return 0


def test_fitted_temperature_plugs_into_the_classifier_base():
    logits, y = _overconfident(2000, 3, seed=5)
    texts = [f"doc {i}" for i in range(len(y))]
    names = ["x", "y", "z"]
    clf = _FixedLogits(dict(zip(texts, logits))).fit(texts, [names[i] for i in y])
    before = negative_log_likelihood(y, clf.predict_proba(texts))
    clf.temperature_ = temperature_scale(clf.decision_function(texts), y)
    after = negative_log_likelihood(y, clf.predict_proba(texts))
    assert after < before - 0.1
    assert expected_calibration_error(y, clf.predict_proba(texts)) < 0.03
