"""Variation over random seeds: one score per seed, summarised, and paired across methods.

A fine-tuning result is a draw from the seed distribution; a single seed can flip a
ranking. Comparisons pair runs by seed because the same seed fixes the same data order
and initialisation wherever a method allows it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class SeedSummary:
    """Mean and spread of one score over seeds."""

    mean: float
    std: float | None
    """Sample standard deviation (ddof=1); None for a single seed, where it is undefined."""
    n: int
    values: dict
    """The score of each seed, keyed by seed (by position when given a list)."""

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.mean:.4f}" if self.std is None else f"{self.mean:.4f} ± {self.std:.4f} (n={self.n})"


@dataclass
class SeedComparison:
    """Per-seed differences A minus B over the seeds both have."""

    deltas: dict
    """A minus B for each shared seed."""
    mean: float
    std: float | None
    """Sample standard deviation of the deltas (ddof=1); None for a single shared seed."""
    n: int
    unpaired: list
    """Seeds present in only one of A and B, left out of the deltas."""

    def to_dict(self) -> dict:
        return asdict(self)


def summarize_seeds(values: Mapping[Hashable, float] | Sequence[float]) -> SeedSummary:
    """Mean, sample std and each seed's value of one score."""
    by_seed = dict(values) if isinstance(values, Mapping) else dict(enumerate(values))
    if not by_seed:
        raise ValueError("no seed values to summarise")
    scores = np.array([float(v) for v in by_seed.values()])
    return SeedSummary(
        mean=float(scores.mean()),
        std=float(scores.std(ddof=1)) if len(scores) > 1 else None,
        n=len(scores),
        values={seed: float(v) for seed, v in by_seed.items()},
    )


def compare_over_seeds(a: Mapping[Hashable, float], b: Mapping[Hashable, float]) -> SeedComparison:
    """Deltas A minus B paired by seed, with their mean and sample std."""
    shared = [seed for seed in a if seed in b]
    if not shared:
        raise ValueError(f"no seed in common: A has {sorted(map(str, a))}, B has {sorted(map(str, b))}")
    summary = summarize_seeds({seed: float(a[seed]) - float(b[seed]) for seed in shared})
    unpaired = [seed for seed in a if seed not in b] + [seed for seed in b if seed not in a]
    return SeedComparison(deltas=summary.values, mean=summary.mean, std=summary.std, n=summary.n, unpaired=unpaired)
