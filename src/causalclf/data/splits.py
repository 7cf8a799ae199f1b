"""Seeded stratified partitions: sklearn for single-label, iterative stratification for multi-label."""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit
from sklearn.model_selection import train_test_split

from causalclf.data.labels import LabelSpace

logger = logging.getLogger(__name__)


def split_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    """Whole-row sizes for `fractions` of `n`; the first part takes what rounding leaves."""
    rest = [int(round(n * f)) for f in fractions[1:]]
    return [n - sum(rest), *rest]


def partition(labels: Sequence, sizes: Sequence[int], seed: int, stratified: bool = True) -> list[np.ndarray]:
    """Splits range(len(labels)) into parts of `sizes` rows that keep the label proportions.

    Parts are carved off the end one at a time, so the first part gets the remainder. Each part's
    indices come back sorted, keeping the input order inside a split.
    """
    if sum(sizes) != len(labels):
        raise ValueError(f"sizes {list(sizes)} do not add up to {len(labels)} rows")
    space = LabelSpace.from_labels(labels)
    y = space.encode(labels)
    remaining = np.arange(len(labels))
    parts = []
    for size in reversed(sizes[1:]):
        if size == 0:
            parts.append(np.array([], dtype=int))
            continue
        remaining, part = _carve(remaining, y[remaining], size, seed, space.multi_label, stratified)
        parts.append(part)
    return [np.sort(p) for p in [remaining, *reversed(parts)]]


def _carve(idx: np.ndarray, y: np.ndarray, size: int, seed: int, multi_label: bool,
           stratified: bool) -> tuple[np.ndarray, np.ndarray]:
    if not stratified:
        return tuple(train_test_split(idx, test_size=size, random_state=seed))
    if multi_label:
        splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=size, random_state=seed)
        keep, part = next(splitter.split(np.zeros(len(idx)), y))
        return idx[keep], idx[part]
    try:
        return tuple(train_test_split(idx, test_size=size, random_state=seed, stratify=y))
    except ValueError as e:
        # sklearn refuses when a class has too few rows for both sides; a plain seeded split is
        # the honest fallback, and it is said out loud.
        logger.warning("stratified split impossible (%s); splitting %d rows without stratification", e, len(idx))
        return tuple(train_test_split(idx, test_size=size, random_state=seed))
