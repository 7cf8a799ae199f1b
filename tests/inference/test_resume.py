"""--resume: after any kill, the output holds every input row exactly once, in order, as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from causalclf.data import read_texts
from causalclf.errors import UserError
from causalclf.inference import predict_file, runner
from causalclf.inference.parts import RunFolder
from tests.inference._inputs import write_texts
from tests.toy import toy_single_label

pytestmark = pytest.mark.processes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _input(tmp_path, n):
    base = toy_single_label(10, seed=7)[0]
    return write_texts(tmp_path, "jsonl", [f"{base[i % len(base)]} {i}" for i in range(n)])


def _predict_cli(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.path.join(REPO, "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "causalclf", "predict", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_sigkilled_run_resumes_without_losing_or_repeating_a_row(tmp_path, tfidf_model):
    path = _input(tmp_path, 700)
    whole = tmp_path / "whole.jsonl"
    predict_file(tfidf_model, path, whole, text="body", chunk_rows=7, progress=False)

    out = tmp_path / "out.jsonl"
    parts = RunFolder(out)
    run = _predict_cli(tfidf_model, path, "--text", "body", "-o", out, "--chunk-rows", 7)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None and len(parts.done() if parts.exists() else ()) < 20:
        time.sleep(0.002)
    run.send_signal(signal.SIGKILL)
    run.communicate()
    assert run.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-way"
    committed = len(parts.done())
    assert 20 <= committed < 100 and not out.exists()  # killed mid-run: some chunks committed, no output yet

    again = _predict_cli(tfidf_model, path, "--text", "body", "-o", out, "--resume")
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert f"resumed: {committed:,} of 100 chunks were committed before" in err
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert ids == read_texts(path, text="body")[1]  # every input row once, in input order
    assert out.read_bytes() == whole.read_bytes()  # and the same predictions as without the kill
    assert not parts.path.exists()


class Crash(Exception):
    pass


def test_a_crash_between_writing_and_committing_a_part_leaves_no_trace(tmp_path, tfidf_model, monkeypatch):
    path = _input(tmp_path, 60)
    whole = tmp_path / "whole.csv"
    predict_file(tfidf_model, path, whole, text="body", chunk_rows=7, progress=False)
    out = tmp_path / "out.csv"
    commit, calls = RunFolder.commit, []

    def dies_on_the_fourth(self, index, table, counts):
        calls.append(index)
        if len(calls) == 4:  # the part's bytes are written under the temporary name, never renamed
            (self.path / f"part-{index:08d}.parquet.tmp").write_bytes(b"half a part")
            raise Crash
        commit(self, index, table, counts)

    monkeypatch.setattr(RunFolder, "commit", dies_on_the_fourth)
    with pytest.raises(Crash):
        predict_file(tfidf_model, path, out, text="body", chunk_rows=7, progress=False)
    assert RunFolder(out).done() == {0, 1, 2}
    monkeypatch.setattr(RunFolder, "commit", commit)
    summary = predict_file(tfidf_model, path, out, text="body", resume=True, progress=False)
    assert summary.resumed_chunks == 3 and summary.counts.texts == 60 and summary.predicted_now == 60 - 21
    assert out.read_bytes() == whole.read_bytes()


def test_a_crash_during_the_merge_keeps_every_part(tmp_path, tfidf_model, monkeypatch):
    path = _input(tmp_path, 40)
    whole = tmp_path / "whole.parquet"
    predict_file(tfidf_model, path, whole, text="body", chunk_rows=7, progress=False)
    out = tmp_path / "out.parquet"
    open_sink = runner.open_sink

    def failing_sink(fmt, target, schema):
        sink = open_sink(fmt, target, schema)
        sink.write = lambda table: (_ for _ in ()).throw(Crash())
        return sink

    monkeypatch.setattr(runner, "open_sink", failing_sink)
    with pytest.raises(Crash):
        predict_file(tfidf_model, path, out, text="body", chunk_rows=7, progress=False)
    assert not out.exists() and RunFolder(out).done() == set(range(6))
    monkeypatch.setattr(runner, "open_sink", open_sink)
    summary = predict_file(tfidf_model, path, out, text="body", resume=True, progress=False)
    assert summary.predicted_now == 0 and summary.resumed_chunks == 6
    assert out.read_bytes() == whole.read_bytes()


def _unfinished(tmp_path, model, n=30):
    """An input and a run folder with its first two chunks committed."""
    path = _input(tmp_path, n)
    out = tmp_path / "out.jsonl"
    commit = RunFolder.commit

    def two(self, index, table, counts):
        if index >= 2:
            raise Crash
        commit(self, index, table, counts)

    RunFolder.commit = two
    try:
        with pytest.raises(Crash):
            predict_file(model, path, out, text="body", chunk_rows=7, progress=False)
    finally:
        RunFolder.commit = commit
    return path, out


def test_resume_refuses_another_model_input_or_setting(tmp_path, tfidf_model, tfidf_multi_model):
    path, out = _unfinished(tmp_path, tfidf_model)
    with pytest.raises(UserError, match=r"out.jsonl.parts holds an unfinished run.*--resume"):
        predict_file(tfidf_model, path, out, text="body", chunk_rows=7, progress=False)
    refusals = {
        "the model differs": dict(model=tfidf_multi_model),
        "the text column or template differs .*'body' then, '{body}' now": dict(text="{body}"),
        "chunk_rows differs .*7 then, 9 now": dict(chunk_rows=9),
        "the output format differs .*'jsonl' then, 'csv' now": dict(output_format="csv"),
        "on_error differs": dict(on_error="skip"),
    }
    for message, change in refusals.items():
        args = {"model": tfidf_model, "text": "body", **change}
        with pytest.raises(UserError, match=f"cannot resume: {message}"):
            predict_file(args.pop("model"), path, out, resume=True, progress=False, **args)
    with open(path, "a") as f:
        f.write(json.dumps({"body": "one more row"}) + "\n")
    with pytest.raises(UserError, match=r"cannot resume: the input differs .*in.jsonl changed since"):
        predict_file(tfidf_model, path, out, text="body", resume=True, progress=False)
    assert RunFolder(out).done() == {0, 1}  # refusals change nothing


def test_resume_of_a_finished_output_is_refused_and_a_missing_run_starts_fresh(tmp_path, tfidf_model):
    path = _input(tmp_path, 20)
    out = tmp_path / "out.jsonl"
    summary = predict_file(tfidf_model, path, out, text="body", resume=True, progress=False)  # nothing to resume
    assert summary.counts.texts == 20 and summary.resumed_chunks == 0
    with pytest.raises(UserError, match="nothing to resume; remove it to predict again"):
        predict_file(tfidf_model, path, out, text="body", resume=True, progress=False)
