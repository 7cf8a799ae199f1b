"""Input files written by the standard writers (csv, json, pyarrow), for the readers to read back."""

from __future__ import annotations

import csv
import json
from pathlib import Path

TABULAR = ("csv", "tsv", "jsonl", "json", "parquet")


def write_rows(path: Path, rows: list[dict]) -> Path:
    """`rows` (dicts with the same keys) as a .csv/.tsv/.jsonl/.json/.parquet file, by its extension."""
    fmt = path.suffix[1:]
    if fmt in ("csv", "tsv"):
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="," if fmt == "csv" else "\t")
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=7)  # several row groups
    else:
        raise ValueError(fmt)
    return path


def write_texts(folder: Path, fmt: str, texts: list[str], column: str = "body") -> Path:
    """`texts` as an input of format `fmt` (tabular formats, txt lines, or a folder of files)."""
    if fmt == "txt":
        path = folder / "in.txt"
        path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
        return path
    if fmt == "folder":
        path = folder / "docs"
        path.mkdir()
        for i, t in enumerate(texts):
            (path / f"{i:04d}.txt").write_text(t, encoding="utf-8")
        return path
    return write_rows(folder / f"in.{fmt}", [{"id": i, column: t} for i, t in enumerate(texts)])
