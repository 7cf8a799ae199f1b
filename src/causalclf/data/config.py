"""`DataConfig`: every knob of `load_dataset`, typed and documented (YAML maps onto it)."""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from causalclf.data.report import DataError, OnError

Format = Literal["auto", "csv", "tsv", "jsonl", "json", "parquet", "folder", "hf_disk", "txt", "reuters"]
FORMATS = typing.get_args(Format)
SPLIT_NAMES = ("train", "validation", "test")


def _default_split() -> dict[str, float]:
    return {"train": 0.8, "validation": 0.1, "test": 0.1}


@dataclass
class DataConfig:
    """Where the data is, how to read it, and how to split it.

    Give exactly one of `name`, `path`, or `train` (with `validation` / `test`).
    """

    name: str | None = field(default=None, metadata={"help": 'A named dataset: "bbc-news" (bundled), or "ag_news" / "uspto" / "reuters" (from the shared data `root`).'})
    root: str | None = field(default=None, metadata={"help": 'Folder of the shared datasets for `name`; defaults to $CAUSALCLF_SHARED_DATA, else <repo>/../shared/data.'})
    path: str | None = field(default=None, metadata={"help": 'One file or folder holding all the data; it is split by `split`.'})
    train: str | None = field(default=None, metadata={"help": 'Pre-split data: the training file. Its split is kept.'})
    validation: str | None = field(default=None, metadata={"help": 'Pre-split data: the validation file. Carved out of `train` when absent but `test` is given.'})
    test: str | None = field(default=None, metadata={"help": 'Pre-split data: the test file.'})
    format: Format = field(default="auto", metadata={"help": 'One of csv, tsv, jsonl, json (JSON lines or a JSON array), parquet, folder (one subfolder per class, one file per document), hf_disk (`datasets.save_to_disk` output), or auto (from the file extension; a folder is hf_disk when it holds a saved dataset, else folder), or reuters (Reuters-21578 SGML: a folder of reut2-*.sgm files or one file, read as latin-1 with the ModApte split; fields title, body, text, topics, places, newid).'})
    text: str | None = field(default=None, metadata={"help": 'The text column ("text" when unset), or a template over several, e.g. "{title}\\n{abstract}".'})
    label: str | None = field(default=None, metadata={"help": 'The label column ("label" when unset).'})
    label_delimiter: str | None = field(default=None, metadata={"help": 'Splits a string label into several, e.g. "," turns "G,B" into ["B", "G"] (multi-label).'})
    multi_label: bool | Literal["auto"] = field(default="auto", metadata={"help": 'auto: multi-label when a delimiter is set or any label is a list (JSON/Python list values).'})
    label_map: dict[str, str] | None = field(default=None, metadata={"help": 'Renames raw label values, e.g. {"1": "World"}; a value missing from it is a bad row.'})
    columns: list[str] | None = field(default=None, metadata={"help": 'Column names for a CSV/TSV file without a header row (its first line is then data).'})
    split: dict[str, float] = field(default_factory=_default_split, metadata={"help": 'Fractions of the data for train / validation / test (a 0 leaves that split out).'})
    seed: int = field(default=42, metadata={"help": "Seed of the split and of `limit`'s sample."})
    on_error: OnError = field(default="raise", metadata={"help": '"raise": the first bad row stops the load with its file, row and column. "skip": bad rows are left out, counted and listed in the report, and a warning says how many.'})
    drop_duplicates: bool = field(default=True, metadata={"help": "Drop rows whose text exactly repeats an earlier row's (before splitting, across given splits; the count is reported). With false, repeated texts are kept but always land in the same split, so a test text is never also a training text."})
    top_k: int | None = field(default=None, metadata={"help": 'Multi-label: keep only the k labels most frequent in the training data; items left with none of them are dropped. The report names the labels dropped and counts the items.'})
    limit: int | None = field(default=None, metadata={"help": 'Keep at most this many rows: a seeded stratified sample, per given split for pre-split data.'})
    encoding: str = field(default="utf-8", metadata={"help": 'Encoding of text files (a UTF-8 byte-order mark is ignored).'})
    fallback_encoding: str | None = field(default=None, metadata={"help": 'Decode fields that are invalid in `encoding` with this one instead (e.g. "latin-1"), and list them in the report; unset, such bytes make a bad row.'})

    def __post_init__(self) -> None:
        given = [k for k in ("name", "path", "train") if getattr(self, k)]
        if len(given) != 1:
            raise DataError(f"give exactly one of name, path or train (pre-split); got {given or 'none'}")
        if (self.validation or self.test) and not self.train:
            raise DataError("validation/test files need a train file as well")
        if self.format not in FORMATS:
            raise DataError(f"unknown format {self.format!r}; expected one of {FORMATS}")
        if self.on_error not in ("raise", "skip"):
            raise DataError(f"on_error must be 'raise' or 'skip', not {self.on_error!r}")
        if self.multi_label not in ("auto", True, False):
            raise DataError(f"multi_label must be 'auto', true or false, not {self.multi_label!r}")
        if self.multi_label is False and self.label_delimiter:
            raise DataError("label_delimiter makes labels multi-label; it contradicts multi_label: false")
        unknown = set(self.split) - set(SPLIT_NAMES)
        if unknown or any(v < 0 for v in self.split.values()) or not self.split.get("train"):
            raise DataError(f"split must map {SPLIT_NAMES} to fractions with train > 0; got {self.split}")
        if not math.isclose(sum(self.split.values()), 1.0, abs_tol=1e-6):
            raise DataError(f"split fractions must sum to 1; got {self.split}")
        if self.top_k is not None and self.top_k < 1:
            raise DataError(f"top_k must be a positive number of labels, not {self.top_k}")
        if self.limit is not None and self.limit < 1:
            raise DataError(f"limit must be a positive number of rows, not {self.limit}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DataConfig":
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

    def for_named(self, sources: Mapping[str, str], **defaults: Any) -> "DataConfig":
        """This config pointed at a named dataset's files, with its defaults for the fields left unset."""
        unset = {k: v for k, v in defaults.items() if getattr(self, k) in (None, "auto")}
        return dataclasses.replace(self, name=None, root=None, **sources, **unset)

    def given_splits(self) -> dict[str, str]:
        """Pre-split files by split name (empty when the data comes as one `path`)."""
        return {s: getattr(self, s) for s in SPLIT_NAMES if getattr(self, s)}
