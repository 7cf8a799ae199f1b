"""Chunked reading: the same ids and texts as the eager reader, for every format and any text."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causalclf.data import DataError, read_texts
from causalclf.inference import TextSource
from tests.inference._inputs import TABULAR, write_rows, write_texts

TEXTS = [f'text number {i}, with a comma and "quotes"\nand a second line' for i in range(23)]


def _streamed(path, chunk_rows=5, **kw):
    ids, texts = [], []
    for chunk in TextSource(path, **kw).chunks(chunk_rows):
        ids += chunk.ids
        texts += chunk.texts
    return texts, ids


@pytest.mark.parametrize("fmt", [*TABULAR, "txt", "folder"])
def test_streaming_reads_what_the_eager_reader_reads(tmp_path, fmt):
    texts = [t.replace("\n", " ") for t in TEXTS] if fmt == "txt" else TEXTS
    path = write_texts(tmp_path, fmt, texts)
    eager = read_texts(path, text="body")
    assert eager[0] == texts
    assert _streamed(path, text="body") == eager  # the same texts with the same ids (file:line, file:row, file)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_templates_and_bad_rows_stream_as_they_load(tmp_path, fmt):
    rows = [{"title": f"title {i}", "body": "" if i in (3, 11) else f"body {i}"} for i in range(15)]
    path = write_rows(tmp_path / f"in.{fmt}", rows)
    template = "{title}\n{body}"
    eager = read_texts(path, text="{title}: {body}", on_error="skip")
    assert _streamed(path, text="{title}: {body}", on_error="skip") == eager
    assert len(eager[0]) == 15  # a template with one empty field still has a text
    eager = read_texts(path, text="body", on_error="skip")
    assert _streamed(path, text="body", on_error="skip") == eager and len(eager[0]) == 13
    with pytest.raises(DataError, match=r"column 'body': empty text"):
        list(TextSource(path, text="body").chunks(4))
    assert TextSource(path, text=template).scan(4).texts == 15


def test_chunks_are_fixed_runs_of_input_rows_bad_ones_included(tmp_path):
    lines = [json.dumps({"text": f"t{i}"}) if i % 4 else "{broken" for i in range(1, 24)]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    source = TextSource(path, on_error="skip")
    chunks = list(source.chunks(5))
    assert [c.counts.rows for c in chunks] == [5, 5, 5, 5, 3]
    assert [c.index for c in chunks] == [0, 1, 2, 3, 4]
    assert all(c.counts.rows == c.counts.texts + c.counts.skipped for c in chunks)
    assert chunks[0].ids == ["in.jsonl:1", "in.jsonl:2", "in.jsonl:3", "in.jsonl:5"]  # line 4 is bad
    assert chunks[0].counts.examples == [
        f"{path}, line 4: invalid JSON: Expecting property name enclosed in double quotes (character 2)"
    ]
    wanted = list(source.chunks(5, wanted={1, 4}))  # the others are read past: same rows, same ids
    assert [(c.index, c.ids) for c in wanted] == [(c.index, c.ids) for c in chunks if c.index in (1, 4)]
    scan = source.scan(5)
    assert (scan.rows, scan.texts, scan.skipped) == (23, 18, 5) and len(scan.examples) == 5


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_one_megabyte_field_reads(tmp_path, fmt):
    big = ('word, "quoted"\tand more ' * 50_000)[:1_000_000]
    path = write_rows(tmp_path / f"in.{fmt}", [{"body": "short"}, {"body": big}, {"body": "after"}])
    assert read_texts(path, text="body")[0] == ["short", big, "after"]
    assert _streamed(path, text="body")[0] == ["short", big, "after"]


# Any text a writer can store: quotes, delimiters, line breaks, tabs, byte-order marks, any plane
# (lone surrogates excluded: no UTF-8 file can hold one). A text must hold something besides
# whitespace, or it is an empty-text bad row by design.
any_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40).filter(str.strip)
tricky = st.lists(
    st.one_of(any_text, st.sampled_from(['a,"b"', "x\r\ny", "\ufeffbom", "tab\there", "\u2028ls", '"'])),
    min_size=1,
    max_size=12,
)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=tricky)
def test_any_text_round_trips_eager_and_streaming(tmp_path_factory, fmt, texts):
    rows = [{"n": str(i), "body": t} for i, t in enumerate(texts)]
    path = write_rows(tmp_path_factory.mktemp(fmt) / f"in.{fmt}", rows)
    eager_texts, eager_ids = read_texts(path, text="body")
    assert eager_texts == texts
    assert _streamed(path, chunk_rows=3, text="body") == (eager_texts, eager_ids)
    assert len(set(eager_ids)) == len(texts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(
        any_text.filter(lambda t: "\n" not in t and "\r" not in t and not t.startswith("\ufeff")),
        min_size=1,
        max_size=12,
    )
)
def test_any_line_round_trips_through_a_text_file(tmp_path_factory, texts):
    # One text per line: a line break ends a text, and a leading byte-order mark is the file's encoding mark.
    path = write_texts(tmp_path_factory.mktemp("txt"), "txt", texts)
    assert read_texts(path)[0] == texts
    assert _streamed(path, chunk_rows=2) == read_texts(path)
