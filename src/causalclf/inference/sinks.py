"""Predictions as a table, and incremental writers of it: JSON lines, CSV, Parquet.

A chunk's predictions become one Arrow table (`prediction_table`): ``id``, ``label`` (a list
of labels for a multi-label model; null where a generated answer named none) and one
``proba_<label>`` column per label, in the model's label order (null when the classifier
gives no probabilities). Writers append table after table and never hold more than one:

- JSON lines: ``{"id": ..., "label": ..., "proba": {label: p, ...}}`` per line (``proba`` left
  out when there is none), as `causalclf predict` always wrote;
- CSV: the table's columns, a multi-label ``label`` as a JSON list (which the data loaders read
  back as several labels);
- Parquet: the table's columns, in row groups of about `ROW_GROUP_ROWS` rows.
"""

from __future__ import annotations

import csv
import json
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Literal

import numpy as np
import pyarrow as pa

from causalclf.errors import UserError

OUTPUT_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
OutputFormat = Literal["jsonl", "csv", "parquet"]
OUTPUT_FORMATS = typing.get_args(OutputFormat)
PROBA_PREFIX = "proba_"
ROW_GROUP_ROWS = 65_536
"""Rows per parquet row group of the output (chunks are gathered up to this)."""


def output_format(path: Path | None, override: str | None = None) -> str:
    """The format to write: `override`, else from the extension of `path`; JSON lines on stdout."""
    if override is not None:
        if override not in OUTPUT_FORMATS:
            raise UserError(f"output format {override!r} is not one of {', '.join(OUTPUT_FORMATS)}")
        return override
    if path is None:
        return "jsonl"
    fmt = OUTPUT_EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(
            f"{path}: cannot tell the output format from the extension; use one of "
            f"{', '.join(OUTPUT_EXTENSIONS)} or set the output format ({', '.join(OUTPUT_FORMATS)})"
        )
    return fmt


def prediction_schema(labels: Sequence[str], multi_label: bool) -> pa.Schema:
    label = pa.list_(pa.string()) if multi_label else pa.string()
    return pa.schema([("id", pa.string()), ("label", label), *[(PROBA_PREFIX + name, pa.float64()) for name in labels]])


def prediction_table(ids: list[str], labels: list, proba: np.ndarray | None, schema: pa.Schema) -> pa.Table:
    """One row per id: its label(s) and, when `proba` is given, its probability per label."""
    columns = [pa.array(ids, pa.string()), pa.array(labels, schema.field("label").type)]
    for j in range(len(schema) - 2):
        columns.append(pa.nulls(len(ids), pa.float64()) if proba is None else pa.array(proba[:, j], pa.float64()))
    return pa.Table.from_arrays(columns, schema=schema)


class Sink:
    """Appends prediction tables to one file or stream; `close` finishes it."""

    def __init__(self, target: IO, schema: pa.Schema):
        self.target, self.schema = target, schema

    def write(self, table: pa.Table) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.target.flush()


class JsonlSink(Sink):
    def write(self, table: pa.Table) -> None:
        names = [n[len(PROBA_PREFIX) :] for n in self.schema.names[2:]]
        for row in table.to_pylist():
            record = {"id": row["id"], "label": row["label"]}
            proba = [row[PROBA_PREFIX + n] for n in names]
            if proba and proba[0] is not None:
                record["proba"] = dict(zip(names, proba))
            self.target.write(json.dumps(record) + "\n")


class CsvSink(Sink):
    def __init__(self, target: IO, schema: pa.Schema):
        super().__init__(target, schema)
        self.writer = csv.writer(target)
        self.writer.writerow(schema.names)
        self.multi_label = pa.types.is_list(schema.field("label").type)

    def write(self, table: pa.Table) -> None:
        for row in table.to_pylist():
            if self.multi_label and row["label"] is not None:
                row["label"] = json.dumps(row["label"])
            self.writer.writerow(row.values())


class ParquetSink(Sink):
    def __init__(self, target: IO, schema: pa.Schema):
        import pyarrow.parquet as pq

        super().__init__(target, schema)
        self.writer = pq.ParquetWriter(target, schema)
        self.pending: list[pa.Table] = []

    def write(self, table: pa.Table) -> None:
        self.pending.append(table.cast(self.schema))  # parts read back may name list items differently
        if sum(t.num_rows for t in self.pending) >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.writer.write_table(pa.concat_tables(self.pending), row_group_size=ROW_GROUP_ROWS)
            self.pending = []

    def close(self) -> None:
        self._flush()
        self.writer.close()
        super().close()


SINKS = {"jsonl": JsonlSink, "csv": CsvSink, "parquet": ParquetSink}


def open_sink(fmt: str, target: IO, schema: pa.Schema) -> Sink:
    """A writer of `fmt` onto `target`: a text stream (newline="") for JSON lines and CSV, binary for parquet."""
    return SINKS[fmt](target, schema)
