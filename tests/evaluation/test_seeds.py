import pytest

from causalclf.evaluation import compare_over_seeds, summarize_seeds


def test_summary_of_three_seeds():
    s = summarize_seeds({0: 0.90, 1: 0.92, 2: 0.94})
    # mean .92; deviations -.02, 0, .02 -> sample variance (.0004 + .0004) / 2 = .0004, std .02
    assert s.mean == pytest.approx(0.92)
    assert s.std == pytest.approx(0.02)
    assert s.n == 3 and s.values == {0: 0.90, 1: 0.92, 2: 0.94}
    assert str(s) == "0.9200 ± 0.0200 (n=3)"


def test_summary_of_a_list_and_of_one_seed():
    assert summarize_seeds([1.0, 3.0]).values == {0: 1.0, 1: 3.0}
    assert summarize_seeds([1.0, 3.0]).std == pytest.approx(2**0.5)
    one = summarize_seeds({7: 0.5})
    assert one.std is None and str(one) == "0.5000"
    with pytest.raises(ValueError):
        summarize_seeds([])


def test_compare_pairs_by_seed_and_reports_unpaired():
    c = compare_over_seeds({0: 0.90, 1: 0.95, 2: 0.80, 3: 0.7}, {1: 0.90, 0: 0.88, 2: 0.81, 9: 0.1})
    assert c.deltas == pytest.approx({0: 0.02, 1: 0.05, 2: -0.01})
    # mean .02; deviations 0, .03, -.03 -> variance .0018 / 2 = .0009, std .03
    assert c.mean == pytest.approx(0.02) and c.std == pytest.approx(0.03)
    assert c.n == 3 and c.unpaired == [3, 9]
    with pytest.raises(ValueError):
        compare_over_seeds({0: 1.0}, {1: 1.0})
