"""`DataConfig`: every knob of `load_dataset`, typed and documented (YAML maps onto it); `SplitSizes`: the
subsamples of a loaded dataset's splits that a run or an experiment asks for."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from causalclf.data.report import DataError, OnError
from causalclf.errors import ConfigError
from causalclf.fields import check_instance, positive

if TYPE_CHECKING:
    from causalclf.data.dataset import TextDataset

log = logging.getLogger(__name__)

Format = Literal["auto", "csv", "tsv", "jsonl", "json", "parquet", "folder", "hf_disk", "txt", "reuters"]
SPLIT_NAMES = ("train", "validation", "test")


def _split_fractions(value: Mapping[str, float], where: str) -> None:
    unknown = set(value) - set(SPLIT_NAMES)
    if unknown or any(v < 0 for v in value.values()) or not value.get("train"):
        raise ConfigError(f"{where}: must map {SPLIT_NAMES} to fractions with train > 0; got {value}")
    if not math.isclose(sum(value.values()), 1.0, abs_tol=1e-6):
        raise ConfigError(f"{where}: the fractions must sum to 1; got {value}")


def _default_split() -> dict[str, float]:
    return {"train": 0.8, "validation": 0.1, "test": 0.1}


@dataclass
class DataConfig:
    """Where the data is, how to read it, and how to split it.

    Give exactly one of `name`, `path`, or `train` (with `validation` / `test`).
    """

    name: str | None = field(
        default=None,
        metadata={
            "help": 'A named dataset: "bbc-news" (bundled), or "ag_news" / "uspto" / "reuters" (from the shared '
            "data `root`)."
        },
    )
    root: str | None = field(
        default=None,
        metadata={
            "help": "Folder of the shared datasets for `name`; defaults to $CAUSALCLF_SHARED_DATA, else "
            "<repo>/../shared/data."
        },
    )
    path: str | None = field(
        default=None, metadata={"help": "One file or folder holding all the data; it is split by `split`."}
    )
    train: str | None = field(default=None, metadata={"help": "Pre-split data: the training file. Its split is kept."})
    validation: str | None = field(
        default=None,
        metadata={
            "help": "Pre-split data: the validation file. Carved out of `train` when absent but `test` is given."
        },
    )
    test: str | None = field(default=None, metadata={"help": "Pre-split data: the test file."})
    format: Format = field(
        default="auto",
        metadata={
            "help": "One of csv, tsv, jsonl, json (JSON lines or a JSON array), parquet, folder (one subfolder per "
            "class, one file per document), hf_disk (`datasets.save_to_disk` output), or auto (from the file "
            "extension; a folder is hf_disk when it holds a saved dataset, else folder), or reuters "
            "(Reuters-21578 SGML: a folder of reut2-*.sgm files or one file, read as latin-1 with the ModApte "
            "split; fields title, body, text, topics, places, newid)."
        },
    )
    text: str | None = field(
        default=None,
        metadata={
            "help": 'The text column ("text" when unset), or a template over several, e.g. "{title}\\n{abstract}".'
        },
    )
    label: str | None = field(default=None, metadata={"help": 'The label column ("label" when unset).'})
    label_delimiter: str | None = field(
        default=None,
        metadata={"help": 'Splits a string label into several, e.g. "," turns "G,B" into ["B", "G"] (multi-label).'},
    )
    multi_label: bool | Literal["auto"] = field(
        default="auto",
        metadata={
            "help": "auto: multi-label when a delimiter is set or any label is a list (JSON/Python list values)."
        },
    )
    label_map: dict[str, str] | None = field(
        default=None,
        metadata={"help": 'Renames raw label values, e.g. {"1": "World"}; a value missing from it is a bad row.'},
    )
    columns: list[str] | None = field(
        default=None,
        metadata={"help": "Column names for a CSV/TSV file without a header row (its first line is then data)."},
    )
    split: dict[str, float] = field(
        default_factory=_default_split,
        metadata={
            "help": "Fractions of the data for train / validation / test (a 0 leaves that split out).",
            "check": _split_fractions,
        },
    )
    seed: int = field(default=42, metadata={"help": "Seed of the split and of `limit`'s sample."})
    on_error: OnError = field(
        default="raise",
        metadata={
            "help": '"raise": the first bad row stops the load with its file, row and column. "skip": bad rows are '
            "left out, counted and listed in the report, and a warning says how many."
        },
    )
    drop_duplicates: bool = field(
        default=True,
        metadata={
            "help": "Drop rows whose text exactly repeats an earlier row's (before splitting, across given splits; "
            "the count is reported). With false, repeated texts are kept but always land in the same split, so "
            "a test text is never also a training text."
        },
    )
    top_k: int | None = field(
        default=None,
        metadata={
            "help": "Multi-label: keep only the k labels most frequent in the training data; items left with none "
            "of them are dropped. The report names the labels dropped and counts the items.",
            "check": positive,
        },
    )
    limit: int | None = field(
        default=None,
        metadata={
            "help": "Keep at most this many rows: a seeded stratified sample, per given split for pre-split data.",
            "check": positive,
        },
    )
    encoding: str = field(
        default="utf-8", metadata={"help": "Encoding of text files (a UTF-8 byte-order mark is ignored)."}
    )
    fallback_encoding: str | None = field(
        default=None,
        metadata={
            "help": 'Decode fields that are invalid in `encoding` with this one instead (e.g. "latin-1"), and list '
            "them in the report; unset, such bytes make a bad row."
        },
    )

    def __post_init__(self) -> None:
        check_instance(self)
        given = [k for k in ("name", "path", "train") if getattr(self, k)]
        if len(given) != 1:
            raise DataError(f"give exactly one of name, path or train (pre-split); got {given or 'none'}")
        if (self.validation or self.test) and not self.train:
            raise DataError("validation/test files need a train file as well")
        if self.multi_label is False and self.label_delimiter:
            raise DataError("label_delimiter makes labels multi-label; it contradicts multi_label: false")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise DataError(f"unknown data config keys {sorted(unknown)}; known keys: {sorted(known)}")
        return cls(**d)

    @property
    def text_spec(self) -> str:
        return self.text or "text"

    @property
    def label_column(self) -> str:
        return self.label or "label"

    def for_named(self, sources: Mapping[str, str], **defaults: Any) -> DataConfig:
        """This config pointed at a named dataset's files, with its defaults for the fields left unset."""
        unset = {k: v for k, v in defaults.items() if getattr(self, k) in (None, "auto")}
        return dataclasses.replace(self, name=None, root=None, **sources, **unset)

    def given_splits(self) -> dict[str, str]:
        """Pre-split files by split name (empty when the data comes as one `path`)."""
        return {s: getattr(self, s) for s in SPLIT_NAMES if getattr(self, s)}


@dataclass(kw_only=True)
class SplitSizes:
    """Stratified, seeded subsamples of a loaded dataset's splits (the top-level keys of a run config or an
    experiment); null keeps a split whole."""

    train_size: int | None = field(
        default=None,
        metadata={
            "help": "A stratified subsample of the training split (rows); in an experiment, the same for every run.",
            "check": positive,
        },
    )
    validation_size: int | None = field(
        default=None, metadata={"help": "A stratified subsample of the validation split (rows).", "check": positive}
    )
    test_size: int | None = field(
        default=None, metadata={"help": "A stratified subsample of the test split (rows).", "check": positive}
    )

    def slice(self, splits: Mapping[str, TextDataset], seed: int = 42) -> dict[str, TextDataset]:
        """Each split subsampled as asked (a size beyond a split's rows keeps it whole, with a warning)."""
        sizes = {"train": self.train_size, "validation": self.validation_size, "test": self.test_size}
        out = {}
        for name, part in splits.items():
            n = sizes.get(name)
            if n is not None and n > len(part):
                log.warning(
                    "%s_size %d is more than the %s split's %d rows: all of them are used", name, n, name, len(part)
                )
            out[name] = part if n is None or n >= len(part) else part.sample(n, seed=seed)
        return out
