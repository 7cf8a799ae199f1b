"""`causalclf predict` end to end on small files: formats, bad rows, output checks, batches, truncation."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pandas as pd
import pytest

from causalclf.cli import main
from causalclf.data import read_texts
from causalclf.inference import predict_file, runner
from causalclf.methods import load_classifier
from tests.inference._inputs import write_texts
from tests.toy import toy_multi_label, toy_single_label

TEXTS = toy_single_label(7, seed=3)[0]  # 21 texts


def _read_output(path):
    """(ids, labels, proba rows as {label: p}) of any output format."""
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        return [r["id"] for r in rows], [r["label"] for r in rows], [r.get("proba") for r in rows]
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, keep_default_na=False)
    labels = [list(y) if not isinstance(y, str) else json.loads(y) if y.startswith("[") else y for y in frame.label]
    proba = frame.filter(like="proba_").rename(columns=lambda c: c[len("proba_") :])
    return list(frame.id), labels, proba.to_dict("records")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_every_output_format_holds_what_the_classifier_predicts(tmp_path, tfidf_model, suffix, capsys):
    path = write_texts(tmp_path, "csv", TEXTS)
    out = tmp_path / f"out{suffix}"
    assert main(["predict", tfidf_model, str(path), "--text", "body", "-o", str(out), "--chunk-rows", "4"]) == 0
    texts, ids = read_texts(path, text="body")
    expected = load_classifier(tfidf_model).predict_with_proba(texts)
    got_ids, got_labels, got_proba = _read_output(out)
    assert got_ids == ids and got_labels == expected.labels
    names = load_classifier(tfidf_model).labels_
    np.testing.assert_allclose([[p[n] for n in names] for p in got_proba], expected.proba, rtol=0, atol=1e-12)
    assert "wrote 21 predictions" in capsys.readouterr().err
    assert not (tmp_path / f"out{suffix}.parts").exists()  # the run folder goes once the output is whole


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_multi_label_outputs_hold_label_lists(tmp_path, tfidf_multi_model, suffix):
    texts = toy_multi_label(12, seed=5)[0]
    path = write_texts(tmp_path, "jsonl", texts, column="text")
    out = tmp_path / f"out{suffix}"
    assert main(["predict", tfidf_multi_model, str(path), "-o", str(out)]) == 0
    _, labels, _ = _read_output(out)
    assert labels == load_classifier(tfidf_multi_model).predict(texts)
    assert all(isinstance(y, list) for y in labels)


def test_stdout_is_json_lines_as_before(tmp_path, tfidf_model, capsys):
    path = write_texts(tmp_path, "txt", TEXTS)
    assert main(["predict", tfidf_model, str(path), "--chunk-rows", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [f"in.txt:{i}" for i in range(1, 22)]
    assert abs(sum(json.loads(lines[0])["proba"].values()) - 1) < 1e-9
    assert main(["predict", tfidf_model, str(path), "--output-format", "csv"]) == 0
    rows = list(csv.reader(capsys.readouterr().out.splitlines()))
    assert rows[0] == ["id", "label", "proba_film", "proba_money", "proba_sport"] and len(rows) == 22


def _with_bad_rows(tmp_path):
    lines = [json.dumps({"body": t}) for t in TEXTS]
    lines[4] = json.dumps({"body": "   "})  # line 5: empty text
    lines[9] = '{"body": "unterminated'  # line 10: unparseable
    lines[15] = json.dumps({"title": "no body"})  # line 16: missing field
    path = tmp_path / "bad.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"body": "caf\xe9"}\n')  # line 22: not UTF-8
    return path


def test_skip_accounts_for_every_row(tmp_path, tfidf_model, capsys):
    path = _with_bad_rows(tmp_path)
    out = tmp_path / "out.jsonl"
    assert (
        main(
            [
                "predict",
                tfidf_model,
                str(path),
                "--text",
                "body",
                "-o",
                str(out),
                "--on-error",
                "skip",
                "--chunk-rows",
                "4",
            ]
        )
        == 0
    )
    written = out.read_text().splitlines()
    summary = capsys.readouterr().err
    assert len(written) == 18 and "(22 rows read; 4 bad rows skipped: " in summary  # 22 in = 18 written + 4 skipped
    for where in (
        "line 5, column 'body': empty text",
        "line 10: invalid JSON",
        "line 16, column 'body'",
        "line 22, column 'body': undecodable bytes",
    ):
        assert where in summary
    assert [json.loads(r)["id"] for r in written][4] == "bad.jsonl:6"

    summary = predict_file(
        tfidf_model, path, tmp_path / "again.parquet", text="body", on_error="skip", chunk_rows=4, progress=False
    )
    assert (summary.counts.rows, summary.counts.texts, summary.counts.skipped) == (22, 18, 4)


def test_raise_names_file_line_and_column_before_the_model_loads(tmp_path, tfidf_model, capsys, monkeypatch):
    def never(model):
        raise AssertionError("the model loaded before the input was checked")

    monkeypatch.setattr(runner, "load_classifier", never)
    path = _with_bad_rows(tmp_path)
    assert main(["predict", tfidf_model, str(path), "--text", "body", "-o", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err
    assert f"error: {path}, line 5, column 'body': empty text" in err and "--on-error skip" in err
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "o.jsonl.parts").exists()


def test_output_paths_are_checked_before_any_work(tmp_path, tfidf_model, capsys, monkeypatch):
    monkeypatch.setattr(runner.TextSource, "scan", lambda *a: pytest.fail("the input was read"))
    path = write_texts(tmp_path, "txt", TEXTS)
    (tmp_path / "taken.jsonl").write_text("precious\n")
    cases = {
        str(tmp_path / "missing" / "o.jsonl"): "the folder .*missing does not exist; create it first",
        "/proc/o.jsonl": "cannot write in /proc",
        str(tmp_path): "is a folder; give a file path",
        str(tmp_path / "o.xlsx"): "cannot tell the output format from the extension",
        str(tmp_path / "taken.jsonl"): "taken.jsonl already exists; remove it",
    }
    for output, message in cases.items():
        assert main(["predict", tfidf_model, str(path), "-o", output]) == 2
        assert re.search(message, capsys.readouterr().err), output
    assert (tmp_path / "taken.jsonl").read_text() == "precious\n"
    assert main(["predict", tfidf_model, str(path), "--resume"]) == 2
    assert "resume needs an output file" in capsys.readouterr().err


def test_batch_flags_reach_the_model_or_are_refused(tmp_path, tfidf_model, head_model, capsys):
    path = write_texts(tmp_path, "txt", [t * 3 for t in TEXTS])
    assert main(["predict", tfidf_model, str(path), "--max-batch-tokens", "64"]) == 2
    assert "tfidf classifier predicts without batches" in capsys.readouterr().err
    assert main(["predict", head_model, str(path), "--max-batch-tokens", "8"]) == 2
    assert "below the model's max_length 16" in capsys.readouterr().err
    fixed, budget = tmp_path / "fixed.parquet", tmp_path / "budget.parquet"
    assert main(["predict", head_model, str(path), "-o", str(fixed), "--batch-size", "2"]) == 0
    assert main(["predict", head_model, str(path), "-o", str(budget), "--max-batch-tokens", "48"]) == 0
    a, b = pd.read_parquet(fixed), pd.read_parquet(budget)
    assert list(a.id) == list(b.id) and list(a.label) == list(b.label)
    np.testing.assert_allclose(a.filter(like="proba_").to_numpy(), b.filter(like="proba_").to_numpy(), atol=1e-5)


def test_batch_settings_of_one_run_leave_a_callers_classifier_as_it_was(tmp_path, head_model):
    clf = load_classifier(head_model)
    before = clf.get_params(deep=False)
    path = write_texts(tmp_path, "txt", TEXTS)
    summary = predict_file(clf, path, tmp_path / "o.parquet", batch_size=2, max_batch_tokens=32, progress=False)
    assert summary.counts.texts == len(TEXTS)
    assert clf.get_params(deep=False) == before
    assert (before["batch_size"], before["max_batch_tokens"]) == (4, None)


def test_texts_cut_at_max_length_are_counted(tmp_path, head_model, capsys):
    # max_length 16; the toy tokenizer makes one token per word and adds none: 40 and 17 tokens are cut, 16 fits
    texts = ["goal", "the match " * 20, "bank", "money " * 17, "film " * 16]
    path = write_texts(tmp_path, "txt", texts)
    assert main(["predict", head_model, str(path), "-o", str(tmp_path / "o.jsonl")]) == 0
    assert "2 texts longer than max_length cut to it" in capsys.readouterr().err
    clf = load_classifier(head_model)
    assert clf.count_truncated(texts) == 2
    # longer than the model's own limit too: counted, without transformers' "will result in indexing errors" warning
    clf.tokenizer_.model_max_length = 20
    assert clf.count_truncated(texts) == 2
    assert not clf.tokenizer_.deprecation_warnings.get("sequence-length-is-longer-than-the-specified-maximum")
