"""Raw label cells -> label names."""
from __future__ import annotations

import numpy as np
import pytest

from causalclf.data.label_values import LabelValueError, parse_label, settle


@pytest.mark.parametrize("cell, delimiter, expected", [
    ("sport", None, "sport"),
    ("  sport ", None, "sport"),
    (3, None, "3"),
    ("G,B", ",", ["B", "G"]),
    ("G, B ,G", ",", ["B", "G"]),
    ("H", ",", ["H"]),
    ('["b", "a"]', None, ["a", "b"]),
    ("['b', 'a']", None, ["a", "b"]),  # pandas' to_csv of a list column
    (["x", "y"], None, ["x", "y"]),
    (np.array(["y", "x"]), None, ["x", "y"]),  # parquet list columns
    ([], None, []),
    ("[]", None, []),
    ("[not json", None, "[not json"),
])
def test_parse_label(cell, delimiter, expected):
    assert parse_label(cell, delimiter) == expected


@pytest.mark.parametrize("cell, delimiter", [("", None), ("  ", None), (None, None), (float("nan"), None),
                                             ("G,,B", ","), (["a", ""], None), ([["a"]], None)])
def test_unreadable_labels(cell, delimiter):
    with pytest.raises(LabelValueError):
        parse_label(cell, delimiter)


def test_label_map():
    assert parse_label("1", label_map={"1": "World"}) == "World"
    assert parse_label("1,2", ",", {"1": "a", "2": "b"}) == ["a", "b"]


def test_settle():
    assert settle(["a", ["b"]], "auto") == ([["a"], ["b"]], [])
    assert settle(["a", "b"], "auto") == (["a", "b"], [])
    assert settle(["a", ["b"], ["b", "c"]], False) == (["a", "b", ["b", "c"]], [2])
