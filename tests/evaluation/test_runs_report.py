import base64
import json
from html.parser import HTMLParser

import numpy as np
import pytest

from causalclf.data.labels import LabelSpace
from causalclf.evaluation import load_run, save_run, write_report

SPACE = LabelSpace(["business", "sport", "tech"])
MULTI = LabelSpace(["cs", "math", "physics"], multi_label=True)
VOID = {"meta", "img", "br", "hr", "link", "input"}


def _single_run(tmp_path, name, accuracy, seed, y, proba=True, **info):
    rng = np.random.default_rng(seed)
    pred = np.where(rng.random(len(y)) < accuracy, y, rng.integers(0, 3, len(y)))
    p = np.full((len(y), 3), 0.15)
    p[np.arange(len(y)), pred] = 0.7
    return save_run(
        tmp_path / name.replace("/", "_").replace("<", "_"),
        name=name,
        y_true=SPACE.decode(y),
        y_pred=SPACE.decode(pred),
        label_space=SPACE,
        proba=p if proba else None,
        info={"seed": seed, **info},
    )


def test_save_and_load_round_trip(tmp_path):
    y = np.random.default_rng(0).integers(0, 3, 50)
    info = {
        "method": "embedding-head",
        "model": "tiny",
        "trainable_parameters": np.int64(1234),
        "docs_per_second": np.float32(2.5),
    }
    record = _single_run(tmp_path, "emb", 0.8, 3, y, **info)
    on_disk = json.loads((tmp_path / "emb" / "metrics.json").read_text())
    assert on_disk == record
    assert record["info"]["trainable_parameters"] == 1234 and record["info"]["seed"] == 3
    assert len((tmp_path / "emb" / "predictions.jsonl").read_text().splitlines()) == 50

    run = load_run(tmp_path / "emb")
    assert run.name == "emb" and run.label_space == SPACE
    assert run.y_true == SPACE.decode(y) and len(run.y_pred) == 50
    assert run.proba.shape == (50, 3)
    assert run.info == record["info"]
    assert run.metrics["macro_f1"] == record["macro_f1"] and "name" not in run.metrics and "info" not in run.metrics

    Y = (np.random.default_rng(1).random((20, 3)) < 0.4).astype(int)
    save_run(tmp_path / "multi", name="multi", y_true=MULTI.decode(Y), y_pred=MULTI.decode(Y), label_space=MULTI)
    multi = load_run(tmp_path / "multi")
    assert multi.y_true == MULTI.decode(Y) and multi.proba is None and multi.metrics["subset_accuracy"] == 1.0
    with pytest.raises(FileNotFoundError):
        load_run(tmp_path / "nowhere")


class _Collector(HTMLParser):
    """Checks that every non-void tag closes in order; gathers text and image sources."""

    def __init__(self):
        super().__init__()
        self.stack, self.text, self.images, self.links = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if "href" in attrs or (tag in ("script", "link")):
            self.links.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data):
        self.text.append(data)


def test_report_contains_every_run_and_is_self_contained(tmp_path):
    y = np.random.default_rng(0).integers(0, 3, 200)
    costs = {
        "method": "embedding-head",
        "model": "tiny",
        "dataset": "toy",
        "trainable_parameters": 5000,
        "docs_per_second": 40.0,
    }
    _single_run(tmp_path, "emb/seed0", 0.9, 0, y, **costs)
    _single_run(tmp_path, "emb/seed1", 0.85, 1, y, **costs)
    _single_run(tmp_path, "zero-shot <frozen>", 0.6, 2, y, proba=False, method="prompting", model="tiny",
                dataset="toy", trainable_parameters=0, docs_per_second=1.5)  # fmt: skip
    other_y = np.random.default_rng(9).integers(0, 3, 120)
    _single_run(tmp_path, "tfidf-other-split", 0.7, 0, other_y, method="tfidf")
    Y = (np.random.default_rng(1).random((60, 3)) < 0.4).astype(int)
    P = np.where(np.random.default_rng(2).random((60, 3)) < 0.9, Y, 1 - Y)
    save_run(tmp_path / "multi", name="multi-label run", y_true=MULTI.decode(Y), y_pred=MULTI.decode(P),
             label_space=MULTI, proba=np.random.default_rng(3).random((60, 3)))  # fmt: skip
    dirs = [tmp_path / d for d in ("emb_seed0", "emb_seed1", "zero-shot _frozen>", "tfidf-other-split", "multi")]
    names = ["emb/seed0", "emb/seed1", "zero-shot <frozen>", "tfidf-other-split", "multi-label run"]

    paths = write_report(dirs, tmp_path / "report", title="Toy comparison", n_resamples=200)

    html = paths["html"].read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(html)
    parser.close()
    assert parser.stack == [], f"unclosed tags: {parser.stack}"
    assert parser.links == [], "the HTML must not load anything from elsewhere"
    text = "".join(parser.text)
    for name in names:
        assert name in text
        assert text.count(name) >= 3  # comparison table, intro line, own section
    # 4 confusion matrices (single-label runs), 4 reliability diagrams (runs with proba), 2 cost plots
    assert len(parser.images) == 10
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"

    # Only the three runs on the same test items are compared: 3 pairs, no pair with the others.
    assert "Test set of 200 items shared by: emb/seed0, emb/seed1, zero-shot <frozen>." in text
    assert "tfidf-other-split" not in text.split("Paired significance")[1].split("Runs")[0]
    assert "Spread over seeds" in text and "0, 1" in text

    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert markdown.startswith("# Toy comparison")
    for name in names:
        assert name in markdown
    figures = sorted(p.name for p in paths["figures"].iterdir())
    assert len(figures) == 10
    for figure in figures:
        assert f"(figures/{figure})" in markdown


def test_report_disambiguates_repeated_names_and_needs_runs(tmp_path):
    y = np.random.default_rng(0).integers(0, 3, 40)
    _single_run(tmp_path / "a", "same", 0.9, 0, y)
    _single_run(tmp_path / "b", "same", 0.5, 1, y)
    paths = write_report([tmp_path / "a" / "same", tmp_path / "b" / "same"], tmp_path / "out", n_resamples=100)
    markdown = paths["markdown"].read_text()
    assert "| same | same (2) |" in markdown  # the one significance row
    with pytest.raises(ValueError):
        write_report([], tmp_path / "none")
