"""A predict input read in chunks: each chunk is the next `chunk_rows` records of the file.

Records are what the readers yield (`causalclf.data.readers.iter_records`, the stream that
`read_texts` reads too), so ids (file:line) and text templates are the same as everywhere
else, and each record is checked by the loaders' own `_RowChecker`. A bad row stays in its
chunk: skipped there and reported with it, or raised. Chunk k is therefore the same rows on
every pass over the same file, which resuming and sharding rely on.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from causalclf.data.loaders import _RowChecker
from causalclf.data.readers import iter_records, text_input
from causalclf.data.report import LoadReport, OnError, RowErrors, plural

EXAMPLES = 5
"""Skipped rows quoted (with file and line) in a summary; the rest are counted."""


DEFAULT_CHUNK_ROWS = 2048
"""Input rows per chunk: predicted together (sorted by length within it), committed together."""


@dataclass
class Counts:
    """What happened to a stretch of input rows: rows read = texts + skipped."""

    rows: int = 0
    """Input records read (blank lines are not records)."""
    texts: int = 0
    """Records that gave a text, hence a prediction."""
    skipped: int = 0
    """Bad records left out under ``on_error="skip"``."""
    examples: list[str] = field(default_factory=list)
    """The first skipped records, located (file, line, column) and explained."""
    truncated: int | None = None
    """Texts longer than the classifier's `max_length` (cut); None when it has no token limit."""

    def add(self, other: Counts) -> Counts:
        self.rows += other.rows
        self.texts += other.texts
        self.skipped += other.skipped
        self.examples += other.examples[: max(0, EXAMPLES - len(self.examples))]
        if other.truncated is not None:
            self.truncated = (self.truncated or 0) + other.truncated
        return self

    def describe(self) -> str:
        """The skipped and cut texts in words ("" when there were none)."""
        parts = []
        if self.skipped:
            more = " ..." if self.skipped > len(self.examples) else ""
            parts.append(f"{plural(self.skipped, 'bad row')} skipped: " + "; ".join(self.examples) + more)
        if self.truncated:
            parts.append(f"{plural(self.truncated, 'text')} longer than max_length cut to it")
        return "; ".join(parts)


@dataclass
class Chunk:
    """One chunk's texts and their ids, in input order."""

    index: int
    ids: list[str]
    texts: list[str]
    counts: Counts


class TextSource:
    """The texts of a csv/tsv/jsonl/json/parquet/txt file or a folder, chunk by chunk.

    `text` names the column or is a template ("{title}\\n{body}"); .txt files and folders are
    their own text. The path, format and template are checked here, a header or schema that
    lacks a column on the first read.
    """

    def __init__(
        self,
        path: str | Path,
        text: str = "text",
        *,
        format: str = "auto",
        encoding: str = "utf-8",
        on_error: OnError = "raise",
    ):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        self.path, self.format, self.template = text_input(path, text, format)
        self.encoding, self.on_error = encoding, on_error

    def chunks(self, chunk_rows: int, wanted: Collection[int] | None = None) -> Iterator[Chunk]:
        """Chunks in input order; with `wanted`, only those indices (the others are read past
        unchecked). With ``on_error="raise"`` the first bad row raises `DataError`."""
        records = iter_records(self.path, self.format, self.template.fields, encoding=self.encoding, labelled=False)
        for index in itertools.count():
            block = list(itertools.islice(records, chunk_rows))
            if not block:
                return
            if wanted is None or index in wanted:
                yield self._check(index, block)

    def scan(self, chunk_rows: int) -> Counts:
        """Reads and checks every row without predicting: the row count for progress, and,
        with ``on_error="raise"``, the first bad row before any model work."""
        counts = Counts()
        for chunk in self.chunks(chunk_rows):
            counts.add(chunk.counts)
        return counts

    def _check(self, index: int, block: list) -> Chunk:
        report = LoadReport()
        checker = _RowChecker(self.template, RowErrors(self.on_error, report), report, encoding=self.encoding)
        ids, texts = [], []
        for record in block:
            text = checker.text(record)
            if text is not None:
                ids.append(record.id)
                texts.append(text)
        return Chunk(
            index,
            ids,
            texts,
            Counts(len(block), len(texts), len(report.skipped), [str(i) for i in report.skipped[:EXAMPLES]]),
        )
