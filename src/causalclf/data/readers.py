"""Format readers: a file or folder -> `Record`s that know their file and row.

Readers do not judge rows: a row they cannot parse comes back as a `Record` with a `problem`,
and the loader applies the ``on_error`` policy. A file-level fault (no such file, a column
missing from the header) raises `DataError` at once, since skipping every row would help no one.
Text files are decoded with ``surrogateescape`` so that an undecodable byte spoils only its own
field, which the loader then reports with its row and column.

Every flat format is read as a stream (`iter_records`): CSV/TSV, JSON lines and text files line
by line, parquet by record batches, folders file by file, so memory does not grow with the
input; `read_source` is the same stream gathered into lists. Sources that carry their own
splits (a saved Hugging Face dataset, Reuters) and JSON arrays are read whole.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from causalclf.data.records import Record
from causalclf.data.report import DataError, RowIssue
from causalclf.data.reuters import read_reuters
from causalclf.data.templates import TextTemplate

EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "txt",
    ".sgm": "reuters",
}
HF_SPLIT_ALIASES = {
    "train": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
}
WHOLE_SOURCES = ("hf_disk", "reuters")
"""Formats read whole: they carry their own splits."""
PARQUET_BATCH_ROWS = 4096
"""Rows decoded from parquet at a time when streaming."""
CSV_FIELD_LIMIT = 2**31 - 1
"""Longest CSV field read, in characters. Python's csv module stops at 131,072 by default,
which a long document passes; fields this large only mean memory (the file's own size)."""

csv.field_size_limit(CSV_FIELD_LIMIT)


def detect_format(path: Path) -> str:
    if path.is_dir():
        saved = ("dataset_info.json", "dataset_dict.json", "state.json")
        if any((path / f).exists() for f in saved):
            return "hf_disk"
        return "reuters" if any(path.glob("reut2-*.sgm")) else "folder"
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"{path}: cannot tell the format from the extension; set format to one of "
            f"{sorted(set(EXTENSIONS.values()))}"
        )
    return fmt


def text_input(path: str | Path, text: str = "text", fmt: str = "auto") -> tuple[Path, str, TextTemplate]:
    """An unlabelled input (what `read_texts` and `causalclf predict` read): its path, its format,
    and the template of its text (the file's own text for .txt files and folders)."""
    path = _existing(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    return path, fmt, TextTemplate("text" if fmt in ("folder", "txt") else text)


def read_source(
    path: str | Path,
    fmt: str,
    needed: Sequence[str],
    *,
    encoding: str = "utf-8",
    columns: Sequence[str] | None = None,
    labelled: bool = True,
) -> dict[str | None, list[Record]]:
    """Records by split name: None for unsplit data; train/validation/test for data that carries
    its own split (a saved DatasetDict, Reuters' ModApte); `EXCLUDED` for records that split leaves out."""
    path = _existing(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "hf_disk":
        return _read_hf_disk(path, needed)
    if fmt == "reuters":
        return read_reuters(path, needed)
    return {None: list(_stream(path, fmt, needed, encoding, columns, labelled))}


def iter_records(
    path: str | Path,
    fmt: str,
    needed: Sequence[str],
    *,
    encoding: str = "utf-8",
    columns: Sequence[str] | None = None,
    labelled: bool = True,
) -> Iterator[Record]:
    """Every record of a source, one at a time and in file order, whatever split it belongs to.

    The path and format are checked now; a header or schema without a `needed` column raises
    `DataError` on the first `next`.
    """
    path = _existing(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt in WHOLE_SOURCES:
        return (r for records in read_source(path, fmt, needed, encoding=encoding).values() for r in records)
    return _stream(path, fmt, needed, encoding, columns, labelled)


def _existing(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    return path


def _stream(
    path: Path, fmt: str, needed: Sequence[str], encoding: str, columns: Sequence[str] | None, labelled: bool
) -> Iterator[Record]:
    if fmt == "folder":
        _check_columns(str(path), ["text", "label"] if labelled else ["text"], needed)
        return _read_folder(path, encoding, labelled)
    if fmt == "parquet":
        return _read_parquet(path, needed)
    if fmt in ("csv", "tsv"):
        return _read_delimited(path, encoding, "," if fmt == "csv" else "\t", needed, columns)
    if fmt == "json" and _first_char(path, encoding) == "[":
        return iter(_read_json_array(path, encoding))
    if fmt in ("jsonl", "json"):
        return _read_json_lines(path, encoding)
    if fmt == "txt":
        _check_columns(str(path), ["text"], needed)
        return _read_lines(path, encoding)
    raise DataError(f"{path}: format {fmt!r} is not readable here")


def _text_encoding(encoding: str) -> str:
    # A byte-order mark is not part of the first column's name (nor of the first line's text).
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def _decode(data: bytes, encoding: str) -> str:
    return data.decode(_text_encoding(encoding), errors="surrogateescape")


def _open_text(path: Path, encoding: str, newline: str | None) -> IO[str]:
    """`newline=""` for csv (it reads quoted line breaks itself); None elsewhere, so that
    \\r\\n and \\r end lines like \\n."""
    return open(path, encoding=_text_encoding(encoding), errors="surrogateescape", newline=newline)


def _read_delimited(
    path: Path, encoding: str, delimiter: str, needed: Sequence[str], columns: Sequence[str] | None
) -> Iterator[Record]:
    # csv row by row (not pandas) so that each bad row is known by its line and can be skipped alone.
    with _open_text(path, encoding, newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, strict=True)
        header = list(columns) if columns else None
        start = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
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


def _read_json_lines(path: Path, encoding: str) -> Iterator[Record]:
    with _open_text(path, encoding, newline=None) as f:
        for line, raw in enumerate(f, start=1):
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


def _first_char(path: Path, encoding: str) -> str:
    """The first character that is not whitespace ("" for a blank file): "[" opens a JSON array."""
    with _open_text(path, encoding, newline=None) as f:
        while block := f.read(1 << 16):
            if block.strip():
                return block.lstrip()[0]
    return ""


def _read_json_array(path: Path, encoding: str) -> list[Record]:
    with _open_text(path, encoding, newline=None) as f:
        try:
            items = json.load(f)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}, line {e.lineno}: invalid JSON: {e.msg}") from None
    records = []
    for n, obj in enumerate(items, start=1):
        if isinstance(obj, dict):
            records.append(Record(obj, str(path), n, "record", f"{path.name}:{n}"))
        else:
            records.append(_broken(path, n, f"expected a JSON object, found {type(obj).__name__}", "record"))
    return records


def _read_lines(path: Path, encoding: str) -> Iterator[Record]:
    with _open_text(path, encoding, newline=None) as f:
        for line, raw in enumerate(f, start=1):
            if not raw.strip():  # as in CSV and JSON lines, a blank line holds no row
                continue
            yield Record({"text": raw.rstrip("\n")}, str(path), line, "line", f"{path.name}:{line}")


def _read_parquet(path: Path, needed: Sequence[str]) -> Iterator[Record]:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a corrupt file
        raise DataError(f"{path}: not a readable parquet file: {e}") from None
    _check_columns(str(path), file.schema_arrow.names, needed)
    n = 0
    with file:
        for batch in file.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=list(needed)):
            for r in batch.to_pylist():
                n += 1
                yield Record(r, str(path), n, "row", f"{path.name}:{n}")


def _read_folder(path: Path, encoding: str, labelled: bool) -> Iterator[Record]:
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
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
            raise DataError(
                f"{path}: split {name!r} is not one of {sorted(HF_SPLIT_ALIASES)}; "
                "save a DatasetDict with only train/validation/test"
            )
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
