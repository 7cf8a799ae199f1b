"""Format readers: a file or folder -> `Record`s that know their file and row.

Readers do not judge rows: a row they cannot parse comes back as a `Record` with a `problem`,
and the loader applies the ``on_error`` policy. A file-level fault (no such file, a column
missing from the header) raises `DataError` at once, since skipping every row would help no one.
Text files are decoded with ``surrogateescape`` so that an undecodable byte spoils only its own
field, which the loader then reports with its row and column.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from causalclf.data.report import DataError, RowIssue

EXTENSIONS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".json": "json", ".parquet": "parquet", ".pq": "parquet", ".txt": "txt", ".sgm": "reuters",
}
EXCLUDED = "excluded"
"""Key of `read_source`'s result for records that the source's own split leaves out (counted, not used)."""
HF_SPLIT_ALIASES = {"train": "train", "validation": "validation", "valid": "validation",
                    "val": "validation", "dev": "validation", "test": "test"}


@dataclass
class Record:
    """One input row: its fields, and where it came from."""

    fields: dict[str, Any]
    file: str
    row: int | None
    unit: str
    id: str
    problem: RowIssue | None = None
    """Set when the row could not be parsed; `fields` is then empty."""
    note: str | None = None
    """Something worth counting in the load report that does not make the row bad (e.g. an empty body)."""

    def issue(self, column: str | None, reason: str) -> RowIssue:
        return RowIssue(self.file, self.row, column, reason, self.unit)


def detect_format(path: Path) -> str:
    if path.is_dir():
        saved = ("dataset_info.json", "dataset_dict.json", "state.json")
        if any((path / f).exists() for f in saved):
            return "hf_disk"
        return "reuters" if any(path.glob("reut2-*.sgm")) else "folder"
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: cannot tell the format from the extension; set format to one of "
                        f"{sorted(set(EXTENSIONS.values()))}")
    return fmt


def read_source(path: str | Path, fmt: str, needed: Sequence[str], *, encoding: str = "utf-8",
                columns: Sequence[str] | None = None, labelled: bool = True) -> dict[str | None, list[Record]]:
    """Records by split name: None for unsplit data; train/validation/test for data that carries
    its own split (a saved DatasetDict, Reuters' ModApte); `EXCLUDED` for records that split leaves out."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "hf_disk":
        return _read_hf_disk(path, needed)
    if fmt == "folder":
        _check_columns(str(path), ["text", "label"] if labelled else ["text"], needed)
        return {None: list(_read_folder(path, encoding, labelled))}
    if fmt == "parquet":
        return {None: _read_parquet(path, needed)}
    if fmt == "reuters":
        from causalclf.data.reuters import read_reuters

        return read_reuters(path, needed)
    text = _decode(path.read_bytes(), encoding)
    if fmt in ("csv", "tsv"):
        return {None: list(_read_delimited(text, path, "," if fmt == "csv" else "\t", needed, columns))}
    if fmt in ("jsonl", "json"):
        array = fmt == "json" and text.lstrip().startswith("[")
        return {None: _read_json_array(text, path) if array else list(_read_json_lines(text, path))}
    if fmt == "txt":
        _check_columns(str(path), ["text"], needed)
        return {None: list(_read_lines(text, path))}
    raise DataError(f"{path}: format {fmt!r} is not readable here")


def _decode(data: bytes, encoding: str) -> str:
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"  # a byte-order mark is not part of the first column's name
    return data.decode(encoding, errors="surrogateescape")


def _read_delimited(text: str, path: Path, delimiter: str, needed: Sequence[str],
                    columns: Sequence[str] | None) -> Iterator[Record]:
    # csv row by row (not pandas) so that each bad row is known by its line and can be skipped alone.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header = list(columns) if columns else None
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield _broken(path, start, f"unparseable {delimiter!r}-delimited row: {e}")
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if not cells:  # a blank line holds no row
            continue
        if header is None:
            header = [c.strip() for c in cells]
            _check_columns(str(path), header, needed, row=line)
            continue
        if len(cells) != len(header):
            yield _broken(path, line, f"expected {len(header)} fields ({', '.join(header)}), found {len(cells)}")
            continue
        yield Record(dict(zip(header, cells)), str(path), line, "line", f"{path.name}:{line}")
    if header is None:
        raise DataError(f"{path}: the file is empty")


def _read_json_lines(text: str, path: Path) -> Iterator[Record]:
    for line, raw in enumerate(io.StringIO(text, newline=None), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            yield _broken(path, line, f"invalid JSON: {e.msg} (character {e.colno})")
            continue
        if not isinstance(obj, dict):
            yield _broken(path, line, f"expected a JSON object, found {type(obj).__name__}")
            continue
        yield Record(obj, str(path), line, "line", f"{path.name}:{line}")


def _read_json_array(text: str, path: Path) -> list[Record]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}, line {e.lineno}: invalid JSON: {e.msg}") from None
    records = []
    for n, obj in enumerate(items, start=1):
        if isinstance(obj, dict):
            records.append(Record(obj, str(path), n, "record", f"{path.name}:{n}"))
        else:
            records.append(_broken(path, n, f"expected a JSON object, found {type(obj).__name__}", "record"))
    return records


def _read_lines(text: str, path: Path) -> Iterator[Record]:
    for line, raw in enumerate(io.StringIO(text, newline=None), start=1):
        if not raw.strip():  # as in CSV and JSON lines, a blank line holds no row
            continue
        yield Record({"text": raw.rstrip("\n")}, str(path), line, "line", f"{path.name}:{line}")


def _read_parquet(path: Path, needed: Sequence[str]) -> list[Record]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a corrupt file
        raise DataError(f"{path}: not a readable parquet file: {e}") from None
    _check_columns(str(path), table.column_names, needed)
    rows = table.select(list(needed)).to_pylist()
    return [Record(r, str(path), n, "row", f"{path.name}:{n}") for n, r in enumerate(rows, start=1)]


def _read_folder(path: Path, encoding: str, labelled: bool) -> Iterator[Record]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise DataError(f"{path}: the folder holds no files")
    for f in files:
        rel = f.relative_to(path)
        fields = {"text": _decode(f.read_bytes(), encoding)}
        record = Record(fields, str(f), None, "line", rel.as_posix())
        if labelled:
            if len(rel.parts) < 2:
                record.problem = record.issue(None, "a file outside the class subfolders (subfolder name = label)")
            fields["label"] = rel.parts[0]
        yield record


def _read_hf_disk(path: Path, needed: Sequence[str]) -> dict[str | None, list[Record]]:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.Dataset):
        return {None: _hf_records(loaded, path, None, needed)}
    out: dict[str | None, list[Record]] = {}
    for name, ds in loaded.items():
        split = HF_SPLIT_ALIASES.get(name)
        if split is None:
            raise DataError(f"{path}: split {name!r} is not one of {sorted(HF_SPLIT_ALIASES)}; "
                            "save a DatasetDict with only train/validation/test")
        out[split] = _hf_records(ds, path, name, needed)
    return out


def _hf_records(ds, path: Path, split: str | None, needed: Sequence[str]) -> list[Record]:
    where = f"{path} [{split}]" if split else str(path)
    _check_columns(where, ds.column_names, needed)
    ds = ds.select_columns(list(needed))
    rows = ds.to_list()
    for name in needed:
        names = _class_names(ds.features[name])
        if names is not None:  # ClassLabel ids -> their names, so labels read as the dataset means them
            for r in rows:
                v = r[name]
                r[name] = [names[i] for i in v] if isinstance(v, list) else _class_name(names, v)
    prefix = f"{split}:" if split else f"{path.name}:"
    return [Record(r, where, n, "row", f"{prefix}{n}") for n, r in enumerate(rows, start=1)]


def _class_name(names: list[str], i: int | None) -> str | None:
    return None if i is None or i < 0 else names[i]  # -1 is ClassLabel's "no label"


def _class_names(feature) -> list[str] | None:
    inner = getattr(feature, "feature", feature)  # Sequence/List(ClassLabel) for multi-label
    return list(inner.names) if hasattr(inner, "int2str") else None


def _check_columns(file: str, have: Sequence[str], needed: Sequence[str], row: int | None = None) -> None:
    """`row` is the header's line in a text file; None for a schema."""
    missing = [c for c in needed if c not in have]
    if missing:
        where = "the header" if row else "the schema"
        raise DataError.from_issue(RowIssue(file, row, missing[0], f"missing from {where}; columns are {list(have)}"))


def _broken(path: Path, row: int, reason: str, unit: str = "line") -> Record:
    return Record({}, str(path), row, unit, f"{path.name}:{row}", RowIssue(str(path), row, None, reason, unit))
