"""Raw label cells -> label names."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalclf.data.label_values import MISSING, LabelValueError, parse_label, settle


@pytest.mark.parametrize(
    "cell, delimiter, expected",
    [
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
    ],
)
def test_parse_label(cell, delimiter, expected):
    assert parse_label(cell, delimiter) == expected


@pytest.mark.parametrize(
    "cell, delimiter",
    [("", None), ("  ", None), (None, None), (float("nan"), None), ("G,,B", ","), (["a", ""], None), ([["a"]], None)],
)
def test_unreadable_labels(cell, delimiter):
    with pytest.raises(LabelValueError):
        parse_label(cell, delimiter)


@pytest.mark.parametrize("cell", ["NaN", "nan", "NA", "N/A", "None", "null", " NULL "])
def test_strings_that_mean_missing_are_missing_labels_not_classes(cell):
    with pytest.raises(LabelValueError, match="missing label"):
        parse_label(cell)
    with pytest.raises(LabelValueError, match="missing label"):
        parse_label(f"G,{cell}", ",")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=",[]"), min_size=1),
        min_size=1,
        max_size=5,
    )
)
def test_a_delimited_cell_parses_to_its_stripped_distinct_names(names):
    names = [n for n in names if n.strip() and n.strip().casefold() not in MISSING]
    if not names:
        return
    assert parse_label(",".join(names), ",") == sorted({n.strip() for n in names})
    assert parse_label(json.dumps(names)) == sorted({n.strip() for n in names})  # a JSON list cell


def test_label_map():
    assert parse_label("1", label_map={"1": "World"}) == "World"
    assert parse_label("1,2", ",", {"1": "a", "2": "b"}) == ["a", "b"]


def test_settle():
    assert settle(["a", ["b"]], "auto") == ([["a"], ["b"]], [])
    assert settle(["a", "b"], "auto") == (["a", "b"], [])
    assert settle(["a", ["b"], ["b", "c"]], False) == (["a", "b", ["b", "c"]], [2])
