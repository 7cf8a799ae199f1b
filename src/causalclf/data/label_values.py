"""Turns raw label cells (strings, numbers, lists, "G,B", '["a", "b"]') into label names."""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

RawLabel = str | list[str]

MISSING = frozenset({"", "nan", "na", "n/a", "none", "null"})
"""Label strings that mean "no value" (compared case-insensitively): a missing label, never a class."""


class LabelValueError(ValueError):
    """A label cell that cannot be read; the caller adds the file, row and column."""


def parse_label(value: Any, delimiter: str | None = None, label_map: Mapping[str, str] | None = None) -> RawLabel:
    """One cell -> a name, or a sorted list of names when the cell holds several.

    An explicit empty list (``[]``) is a multi-label item with no labels; an empty cell is an error.
    """
    items = _as_list(value)
    if items is None:
        text = _scalar_text(value)
        if delimiter is None:
            return _rename(text, label_map)
        items = text.split(delimiter)
    names = [_rename(_scalar_text(v), label_map) for v in items]
    return sorted(set(names))


def _as_list(value: Any) -> list | None:
    if isinstance(value, (list, tuple, np.ndarray)):
        return list(value)
    if isinstance(value, str) and value.strip().startswith("[") and value.strip().endswith("]"):
        # Lists written to CSV by json.dumps or by pandas (Python repr) both mean several labels.
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(value.strip())
            except (ValueError, SyntaxError):
                continue
            if isinstance(parsed, list):
                return parsed
    return None


def _scalar_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise LabelValueError("empty label")
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        raise LabelValueError(f"nested label value {value!r}")
    text = str(value).strip()
    if not text:
        raise LabelValueError("empty label")
    if text.casefold() in MISSING:
        raise LabelValueError(f"missing label ({text!r} means no value, not a class)")
    return text


def _rename(name: str, label_map: Mapping[str, str] | None) -> str:
    if label_map is None:
        return name
    try:
        return label_map[name]
    except KeyError:
        raise LabelValueError(f"label {name!r} is not in label_map {sorted(label_map)}") from None


def settle(labels: list[RawLabel], multi_label: bool | str) -> tuple[list[RawLabel], list[int]]:
    """Makes the labels of a dataset all single or all multi; returns them and the positions that can't be.

    auto means multi-label as soon as one item is a list.
    """
    multi = any(isinstance(y, list) for y in labels) if multi_label == "auto" else bool(multi_label)
    if multi:
        return [y if isinstance(y, list) else [y] for y in labels], []
    bad = [i for i, y in enumerate(labels) if isinstance(y, list) and len(y) != 1]
    return [y[0] if isinstance(y, list) and len(y) == 1 else y for y in labels], bad
