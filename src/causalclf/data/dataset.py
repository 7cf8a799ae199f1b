"""`TextDataset` (texts + labels + their `LabelSpace`) and `DatasetSplits` (train/validation/test)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from causalclf.data.labels import LabelSpace
from causalclf.data.report import LoadReport
from causalclf.data.splits import partition


@dataclass
class TextDataset:
    """Texts with their labels: a name per text, or a list of names per text (multi-label)."""

    texts: list[str]
    labels: list[str] | list[list[str]]
    label_space: LabelSpace
    """Shared by every split of a load, so that label columns agree."""
    ids: list[str] | None = None
    """Where each text came from, e.g. "train.csv:17" (file and line) or "sports/199.txt"."""

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.texts) or (self.ids is not None and len(self.ids) != len(self.texts)):
            raise ValueError(
                f"{len(self.texts)} texts, {len(self.labels)} labels and "
                f"{len(self.ids) if self.ids is not None else 'no'} ids do not line up"
            )

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> TextDataset:
        """The rows at `indices`, in that order, with the same label space."""
        indices = [int(i) for i in indices]
        return TextDataset(
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            label_space=self.label_space,
            ids=None if self.ids is None else [self.ids[i] for i in indices],
        )

    def sample(self, n: int, seed: int = 42, stratified: bool = True) -> TextDataset:
        """A seeded sample of `n` rows (all rows when n >= len), keeping the label proportions.

        Rows keep their order; multi-label data is sampled by iterative stratification.
        """
        if n >= len(self):
            return self.subset(range(len(self)))
        rest, chosen = partition(self.labels, [len(self) - n, n], seed, stratified)
        return self.subset(chosen)

    def label_counts(self) -> Counter:
        """Texts per label (a multi-label text counts once for each of its labels)."""
        if self.label_space.multi_label:
            return Counter(y for ys in self.labels for y in ys)
        return Counter(self.labels)


@dataclass
class DatasetSplits(Mapping[str, TextDataset]):
    """Named splits (train, validation, test) of one load, its label space and its report."""

    splits: dict[str, TextDataset]
    label_space: LabelSpace
    """Built from every split's labels (names sorted); each split holds this same object."""
    report: LoadReport = field(default_factory=LoadReport)
    name: str = "dataset"
    """What was loaded (a dataset name or a path), for summaries."""

    def __getitem__(self, key: str) -> TextDataset:
        try:
            return self.splits[key]
        except KeyError:
            raise KeyError(f"no split {key!r}; splits are {list(self.splits)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.splits)

    def __len__(self) -> int:
        return len(self.splits)

    def summary(self) -> str:
        """A few lines a person can read: sizes, labels, per-split label counts, what was dropped."""
        kind = "multi-label" if self.label_space.multi_label else "single-label"
        total = sum(len(d) for d in self.splits.values())
        lines = [
            f"{self.name}: {total:,} texts, {len(self.label_space)} labels ({kind})",
            "  " + self.report.summary(),
            "  " + " | ".join(f"{s} {len(d):,}" for s, d in self.splits.items()),
        ]
        width = max(len(n) for n in [*self.label_space.names, "label"])
        lines.append(f"    {'label':<{width}}" + "".join(f"{s:>12}" for s in self.splits))
        for label in self.label_space.names:
            counts = "".join(f"{d.label_counts()[label]:>12,}" for d in self.splits.values())
            lines.append(f"    {label:<{width}}{counts}")
        return "\n".join(lines)
