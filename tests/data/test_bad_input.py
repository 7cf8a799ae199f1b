"""Bad rows raise a DataError naming file, row and column; on_error="skip" counts and lists them."""

from __future__ import annotations

import logging

import pytest

from causalclf.data import DataError, load_dataset, read_texts


def _csv(bad: str | bytes) -> bytes:
    """A CSV file of 22 rows whose line 3 is `bad` (line 1 is the header)."""
    rows = [f"text {i},{'ab'[i % 2]}" for i in range(21)]
    return _lines(["text,label", rows[0], bad, *rows[1:]])


def _jsonl(bad: str | bytes) -> bytes:
    """A JSON-lines file of 22 rows whose line 3 is `bad`."""
    rows = [f'{{"text": "text {i}", "label": "{"ab"[i % 2]}"}}' for i in range(21)]
    return _lines([rows[0], rows[1], bad, *rows[2:]])


def _lines(lines: list[str | bytes]) -> bytes:
    return b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines)


# name -> (file name, content, bad column or None, reason pattern)
CASES = {
    "empty text": ("d.csv", _csv("  ,b"), "text", "empty text"),
    "empty label": ("d.csv", _csv("no label here,"), "label", "empty label"),
    "null label": ("d.jsonl", _jsonl('{"text": "y", "label": null}'), "label", "empty label"),
    "wrong field count": ("d.csv", _csv("too,many,fields"), None, r"expected 2 fields \(text, label\), found 3"),
    "bad quoting": ("d.csv", _csv('"open"quote,b'), None, "unparseable"),
    "invalid json": ("d.jsonl", _jsonl('{"text": "y", "label": '), None, "invalid JSON"),
    "json not an object": ("d.jsonl", _jsonl('["y", "a"]'), None, "expected a JSON object"),
    "missing key": ("d.jsonl", _jsonl('{"txt": "y", "label": "a"}'), "text", "missing column"),
    "undecodable csv": ("d.csv", _csv(b"caf\xe9 au lait,b"), "text", r"undecodable bytes b'\\xe9'"),
    "undecodable jsonl": ("d.jsonl", _jsonl(b'{"text": "caf\xe9", "label": "b"}'), "text", "undecodable bytes"),
}


def _write(tmp_path, name, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize("case", CASES)
def test_bad_row_raises_with_file_row_and_column(tmp_path, case):
    name, content, column, reason = CASES[case]
    path = _write(tmp_path, name, content)
    with pytest.raises(DataError, match=reason) as err:
        load_dataset(path)
    issue = err.value.issue
    assert (issue.file, issue.row, issue.column) == (str(path), 3, column)
    assert str(path) in str(err.value) and "line 3" in str(err.value)
    if column:
        assert f"column {column!r}" in str(err.value)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("case", CASES)
def test_bad_row_skipped_counted_listed_and_logged(tmp_path, case, caplog):
    name, content, column, reason = CASES[case]
    path = _write(tmp_path, name, content)
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(path, on_error="skip")
    report = ds.report
    assert [(i.row, i.column) for i in report.skipped] == [(3, column)]
    assert report.rows_read == 22 and report.rows_kept == 21
    assert sum(len(s) for s in ds.values()) == 21
    assert "skipped 1 bad row " in caplog.text and "line 3" in caplog.text


def test_missing_column_in_header_raises_even_when_skipping(tmp_path):
    path = _write(tmp_path, "d.csv", _csv("x,a").replace(b"text,label", b"body,label"))
    for on_error in ("raise", "skip"):
        with pytest.raises(DataError, match=r"d\.csv, line 1, column 'text': missing from the header"):
            load_dataset(path, on_error=on_error)


def test_missing_column_in_parquet_schema(tmp_path):
    import pandas as pd

    pd.DataFrame({"body": ["x"], "label": ["a"]}).to_parquet(tmp_path / "d.parquet")
    with pytest.raises(DataError, match=r"d\.parquet, column 'text': missing from the schema"):
        load_dataset(tmp_path / "d.parquet")


def test_fallback_encoding_recodes_and_reports(tmp_path):
    path = _write(tmp_path, "d.csv", _csv(b"caf\xe9 au lait,b"))
    ds = load_dataset(path, fallback_encoding="latin-1", split={"train": 1.0})
    assert "café au lait" in ds["train"].texts
    assert [(i.row, i.column) for i in ds.report.recoded] == [(3, "text")] and not ds.report.skipped
    assert ds.report.rows_kept == 22


def test_declared_encoding_is_used(tmp_path):
    path = _write(tmp_path, "d.csv", "text,label\ncafé,a\nthé,b\n".encode("cp1252"))
    ds = load_dataset(path, encoding="cp1252", split={"train": 1.0})
    assert ds["train"].texts == ["café", "thé"]


def test_undecodable_file_in_class_folder(tmp_path):
    for label in "ab":
        (tmp_path / "c" / label).mkdir(parents=True)
        for i in range(10):
            (tmp_path / "c" / label / f"{i}.txt").write_text(f"{label} doc {i}")
    bad = tmp_path / "c" / "b" / "bad.txt"
    bad.write_bytes(b"\x93quoted\x94")
    with pytest.raises(DataError, match=r"bad\.txt, column 'text': undecodable bytes"):
        load_dataset(tmp_path / "c")
    ds = load_dataset(tmp_path / "c", on_error="skip")
    assert [i.file for i in ds.report.skipped] == [str(bad)] and ds.report.rows_kept == 20


def test_file_outside_class_folders_is_a_bad_row(tmp_path):
    (tmp_path / "c" / "a").mkdir(parents=True)
    (tmp_path / "c" / "a" / "1.txt").write_text("one")
    (tmp_path / "c" / "README").write_text("not a document")
    with pytest.raises(DataError, match="outside the class subfolders"):
        load_dataset(tmp_path / "c")


def test_nothing_left_is_an_error(tmp_path):
    path = _write(tmp_path, "d.csv", "text,label\n ,a\n")
    with pytest.raises(DataError, match="no rows left"):
        load_dataset(path, on_error="skip")


def test_read_texts_reports_bad_rows(tmp_path):
    path = _write(tmp_path, "in.csv", 'text\nfine\n""\nalso fine\n')
    with pytest.raises(DataError, match=r"in\.csv, line 3, column 'text': empty text"):
        read_texts(path)
    assert read_texts(path, on_error="skip") == (["fine", "also fine"], ["in.csv:2", "in.csv:4"])


def test_report_accounts_for_every_row(tmp_path):
    rows = "".join(f"text {i % 15},{'ab'[i % 15 % 2]}\n" for i in range(30))  # 15 duplicates
    path = _write(tmp_path, "d.csv", f"text,label\n{rows} ,a\n")
    ds = load_dataset(path, on_error="skip", drop_duplicates=True, limit=10)
    r = ds.report
    assert (r.rows_read, r.duplicates_dropped, len(r.skipped), r.dropped_by_limit, r.rows_kept) == (31, 15, 1, 5, 10)
    assert r.rows_read == r.rows_kept + r.duplicates_dropped + len(r.skipped) + r.dropped_by_limit
