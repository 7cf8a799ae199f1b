"""`LabelSpace`: the one mapping between label names, integer ids and multi-hot rows."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Label = str


@dataclass
class LabelSpace:
    """Ordered label names and whether an item may carry several of them.

    Column ``i`` of every probability matrix in causalclf belongs to ``names[i]``.
    """

    names: list[str]
    """Label names, in column order (sorted when built from data, so runs agree)."""
    multi_label: bool = False
    """True when each item carries a (possibly empty) set of labels."""
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.names = [str(n) for n in self.names]
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"duplicate label names in {self.names}")
        if not self.names:
            raise ValueError("a LabelSpace needs at least one label")
        self._index = {n: i for i, n in enumerate(self.names)}

    @classmethod
    def from_labels(cls, labels: Sequence, names: Iterable[str] | None = None) -> LabelSpace:
        """Infer the space from training labels: lists/tuples/sets mean multi-label."""
        multi = any(isinstance(y, (list, tuple, set, frozenset)) for y in labels)
        if multi and not all(isinstance(y, (list, tuple, set, frozenset)) for y in labels):
            raise ValueError("labels mix single strings and lists: use lists for every multi-label item")
        if names is None:
            seen = {str(name) for y in labels for name in y} if multi else {str(y) for y in labels}
            names = sorted(seen)
        return cls(list(names), multi_label=multi)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        try:
            return self._index[str(name)]
        except KeyError:
            raise KeyError(f"unknown label {name!r}; known labels: {self.names}") from None

    def encode(self, labels: Sequence) -> np.ndarray:
        """Single-label: int64 ids of shape (n,). Multi-label: float32 multi-hot (n, k)."""
        if not self.multi_label:
            return np.asarray([self.index(y) for y in labels], dtype=np.int64)
        out = np.zeros((len(labels), len(self)), dtype=np.float32)
        for row, ys in enumerate(labels):
            if isinstance(ys, str):
                raise TypeError(f"multi-label item {row} is a string {ys!r}; expected a list of labels")
            for y in ys:
                out[row, self.index(y)] = 1.0
        return out

    def decode(self, encoded: np.ndarray) -> list:
        """Inverse of `encode`: ids -> names, or a 0/1 (n, k) matrix -> lists of names."""
        encoded = np.asarray(encoded)
        if not self.multi_label:
            return [self.names[int(i)] for i in encoded]
        return [[self.names[j] for j in np.flatnonzero(row)] for row in encoded]

    def to_dict(self) -> dict:
        return {"names": list(self.names), "multi_label": self.multi_label}

    @classmethod
    def from_dict(cls, d: dict) -> LabelSpace:
        return cls(list(d["names"]), multi_label=bool(d.get("multi_label", False)))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> LabelSpace:
        return cls.from_dict(json.loads(Path(path).read_text()))
