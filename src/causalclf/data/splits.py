"""Seeded stratified partitions: sklearn for single-label, iterative stratification for multi-label."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np

from causalclf.data.labels import LabelSpace

logger = logging.getLogger(__name__)


def split_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    """Whole-row sizes for `fractions` of `n`; the first part takes what rounding leaves."""
    rest = [int(round(n * f)) for f in fractions[1:]]
    return [n - sum(rest), *rest]


def partition(labels: Sequence, sizes: Sequence[int], seed: int, stratified: bool = True) -> list[np.ndarray]:
    """Splits range(len(labels)) into parts of exactly `sizes` rows that keep the label proportions.

    Parts are carved off the end one at a time, so the first part gets the remainder. Multi-label
    parts then get one row of each label that has rows enough to go round. Each part's indices
    come back sorted, keeping the input order inside a split.
    """
    from sklearn.model_selection import train_test_split  # scikit-learn loads when data is split, not before

    if sum(sizes) != len(labels):
        raise ValueError(f"sizes {list(sizes)} do not add up to {len(labels)} rows")
    space = LabelSpace.from_labels(labels)
    y = space.encode(labels)
    rng = np.random.default_rng(seed)
    multi = stratified and space.multi_label
    remaining = np.arange(len(labels))
    parts = []
    for size in reversed(sizes[1:]):
        if size == 0:
            parts.append(np.array([], dtype=int))
        elif not stratified:
            remaining, part = train_test_split(remaining, test_size=size, random_state=seed)
            parts.append(part)
        elif multi:
            parts.append(_carve_multi_label(remaining, y, size, seed, rng))
            remaining = np.setdiff1d(remaining, parts[-1])
        else:
            remaining, part = _carve_single_label(remaining, y, size, seed, space.names)
            parts.append(part)
    parts = [remaining, *reversed(parts)]
    if multi:
        _cover_labels(parts, y, rng)
    return [np.sort(p) for p in parts]


def _carve_single_label(
    idx: np.ndarray, y: np.ndarray, size: int, seed: int, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, carved): `size` rows carved from `idx` in the label proportions.

    A class with a single row cannot be on both sides: it stays on the kept side (the training
    side of every split), and the warning names it. When the part is too small to hold every
    class, stratification is impossible and a plain seeded split is made, said out loud.
    """
    from sklearn.model_selection import train_test_split

    counts = Counter(y[idx].tolist())
    rare = np.isin(y[idx], [c for c, n in counts.items() if n < 2])
    if (~rare).sum() <= size:  # too few other rows to carve the part from: no row can be held back
        rare[:] = False
    if rare.any():
        logger.warning(
            "%s: too few rows to stratify, kept in the training part only (never validated or tested)",
            ", ".join(f"class {names[c]!r} has {counts[c]} row" for c in sorted(set(y[idx][rare]))),
        )
    common = idx[~rare]
    try:
        kept, carved = train_test_split(common, test_size=size, random_state=seed, stratify=y[common])
    except ValueError as e:
        logger.warning("stratified split impossible (%s); splitting %d rows without stratification", e, len(common))
        kept, carved = train_test_split(common, test_size=size, random_state=seed)
    return np.concatenate([kept, idx[rare]]), carved


def _carve_multi_label(idx: np.ndarray, y: np.ndarray, size: int, seed: int, rng: np.random.Generator) -> np.ndarray:
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=size, random_state=seed)
    keep, part = (idx[i] for i in next(splitter.split(np.zeros(len(idx)), y[idx])))
    # Iterative stratification hits the size only roughly (a few rows off): move the difference.
    if len(part) > size:
        part, keep = _move(part, keep, y, len(part) - size, rng)
    elif len(part) < size:
        keep, part = _move(keep, part, y, size - len(part), rng)
    return part


def _cover_labels(parts: list[np.ndarray], y: np.ndarray, rng: np.random.Generator) -> None:
    """Gives each part a row of every label it lacks, from the part with most of that label when
    it has two or more, swapping a row back so sizes stay. Proportional stratification alone
    leaves a label with 3 rows out of a 10% split."""
    for p in range(len(parts)):
        for label in np.flatnonzero(y[parts[p]].sum(axis=0) == 0):
            donor = max((q for q in range(len(parts)) if q != p), key=lambda q: y[parts[q], label].sum())
            if y[parts[donor], label].sum() < 2 or not (y[parts[p], label] == 0).any():
                continue  # too few rows of this label to go round
            parts[donor], parts[p] = _move(parts[donor], parts[p], y, 1, rng, among=y[:, label] > 0)
            parts[p], parts[donor] = _move(parts[p], parts[donor], y, 1, rng, among=y[:, label] == 0)


def _move(
    src: np.ndarray, dst: np.ndarray, y: np.ndarray, k: int, rng: np.random.Generator, among: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Moves k random rows of `src` (those flagged by `among`) to `dst`, preferring rows whose
    labels `src` still holds in other rows, so that no label leaves `src` needlessly."""
    order = [i for i in rng.permutation(len(src)) if among is None or among[src[i]]]
    counts = y[src].sum(axis=0)
    spare = []
    for i in order:
        if len(spare) < k and (counts[y[src[i]] > 0] >= 2).all():
            spare.append(i)
            counts -= y[src[i]]
    taken = set(spare)
    chosen = spare + [i for i in order if i not in taken][: k - len(spare)]
    mask = np.zeros(len(src), dtype=bool)
    mask[chosen] = True
    return src[~mask], np.concatenate([dst, src[mask]])
