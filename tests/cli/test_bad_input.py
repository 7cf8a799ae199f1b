"""Bad input through the command line, as a new user makes it.

Every user mistake ends with exit code 2 and one message naming the problem, never a
traceback; nothing is scored, merged or dropped without a word. The validator rejects a bad
config before any data or model is loaded.

Commands run through `causalclf.cli.main`, as the console script calls it, in this process (a bug's
exception fails the test where a process would print its traceback); what only a process shows (the
interpreter's traceback under --debug, a dependency logging as it is imported) runs as a real one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from causalclf.cli import main
from tests.toy import toy_single_label

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def run_process(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m causalclf ARGS` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "causalclf", *args], cwd=cwd, env=env or ENV, capture_output=True, text=True, timeout=300
    )


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`causalclf ARGS` through `main` in this process, from the folder `cwd`, with what it printed."""
    out, err, before = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(["causalclf", *args], code, out.getvalue(), err.getvalue())


def error_paragraph(stderr: str) -> str:
    """The one ``error: `` paragraph on stderr (to the next blank line), wherever other lines put it."""
    lines = stderr.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert len(starts) == 1, f"expected one error paragraph, got {len(starts)}:\n{stderr}"
    paragraph = []
    for line in lines[starts[0] :]:
        if not line.strip():
            break
        paragraph.append(line)
    return "\n".join(paragraph)


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """The CLI's contract for a user mistake: exit 2, one paragraph naming the problem, no traceback. Other
    lines on stderr (a dependency's log line) are not part of it."""
    assert result.returncode == 2, result.stderr + result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    message = error_paragraph(result.stderr)
    for fragment in fragments:
        assert fragment in message, result.stderr


@pytest.fixture()
def data(tmp_path) -> Path:
    """60 toy rows (20 per class) as a CSV file."""
    texts, labels = toy_single_label(20)
    path = tmp_path / "data.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))
    return path


DROP = object()
"""A key's value meaning: leave the key out."""


def config(tmp_path: Path, data_file: Path, **keys) -> Path:
    raw = {"data": {"path": str(data_file)}, "method": "tfidf", "output_dir": str(tmp_path / "run"), **keys}
    raw = {k: v for k, v in raw.items() if v is not DROP}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    "keys, fragments",
    [
        ({"method": "embedding_head", "training": {"epochs": "two"}}, ["training.epochs: 'two' is not a number"]),
        ({"ngram_range": "1-2"}, ["ngram_range: '1-2' is not a list of 2"]),
        (
            {"method": "embedding_head", "head": "mlpp"},
            ["head: 'mlpp' is not one of 'linear', 'mlp'", "did you mean 'mlp'"],
        ),
        (
            {"method": "embedding_head", "model": "no/such/folder"},
            ["model: 'no/such/folder' is not a registry name", "existing model folder"],
        ),
        ({"method": "embedding_head", "model": "smollm2-135mm"}, ["did you mean 'smollm2-135m'"]),
        ({"method": "embedding_head", "model": "minilm-l6"}, ["'minilm-l6' is an encoder", "needs a causal LM"]),
        (
            {"method": "embedding_head", "model": "someorg/never-downloaded"},
            ["not in the local cache", "HF_HUB_OFFLINE=1"],
        ),
        (
            {"method": "embedding_head", "threshold_average": "weighted"},
            ["threshold_average: 'weighted' is not one of 'macro', 'micro'"],
        ),
        (
            {"method": "embedding_head", "lora": {"r": 8, "lora_alpa": 16}},
            ["lora: unknown key 'lora_alpa'", "did you mean 'lora_alpha'"],
        ),
        ({"method": "embedding_head", "layer": "best"}, ["layer='best' trains a head per block on frozen features"]),
        ({"ouptut_dir": "x"}, ["unknown key 'ouptut_dir'", "did you mean 'output_dir'"]),
        ({"method": DROP, "methd": "tfidf"}, ["missing required key 'method'", "is 'methd' a typo of it?"]),
        ({"train_size": 0}, ["train_size: 0 must be above 0"]),
        ({"data": "no-such-dataset"}, ["'no-such-dataset' is neither a named dataset"]),
        ({"data": {"path": "x.csv", "on_eror": "skip"}}, ["data: unknown key 'on_eror'", "did you mean 'on_error'"]),
        ({"distill": {"temperature": -1}}, ["distill.temperature: -1 must be above 0"]),
        # LoRA values PEFT's own config takes without a word, and fails on inside the model
        ({"method": "embedding_head", "lora": {"r": 0}}, ["lora.r: 0 must be at least 1"]),
        ({"method": "embedding_head", "lora": {"r": -4}}, ["lora.r: -4 must be at least 1"]),
        ({"method": "embedding_head", "lora": {"lora_dropout": 2.0}}, ["lora.lora_dropout: 2.0 must lie in [0, 0.99]"]),
        (
            {"method": "embedding_head", "lora": {"target_modules": "all-linear", "layers_to_transform": [0]}},
            ["lora:", "`layers_to_transform` cannot be used when `target_modules` is a str"],
        ),
    ],
)
def test_a_bad_config_is_refused_with_its_key_and_no_traceback(tmp_path, data, keys, fragments):
    assert_user_error(run("train", str(config(tmp_path, data, **keys)), cwd=tmp_path), *fragments)
    assert not (tmp_path / "run").exists()  # nothing was written


NOISY_DEPENDENCY = """
import importlib.abc, logging, sys


class Noisy(importlib.abc.MetaPathFinder):
    \"\"\"When scipy is first imported (as the command works: the run config's code loads it), log what kernels
    0.19 logs at import offline (as bitsandbytes loads it with a model), and a warning of another library that a
    user should see.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name == "scipy":
            logging.getLogger("kernels._internals.hf_hub").warning(
                "Skipping publisher trust check for 'kernels-community/quantization-bitsandbytes' because Hugging "
                "Face Hub is in offline mode.")
            logging.getLogger("somelib.config").warning("somelib: this setting is deprecated, change it")
        return None


sys.meta_path.insert(0, Noisy())
"""


def test_a_dependency_logging_at_import_leaves_the_error_contract_intact(tmp_path, data):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NOISY_DEPENDENCY)
    env = {**ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), ENV.get("PYTHONPATH")]))}
    result = run_process("train", str(config(tmp_path, data, ngram_range="1-2")), cwd=tmp_path, env=env)
    assert_user_error(result, "ngram_range: '1-2' is not a list of 2")
    assert "publisher trust check" not in result.stderr  # nothing a user can act on: kept off stderr
    assert "somelib: this setting is deprecated" in result.stderr  # a warning to act on still shows


def test_the_validator_loads_nothing_before_it_refuses(tmp_path, data, monkeypatch, capsys):
    """In process, with every loader replaced by a tripwire: a bad config never reaches them.

    The method modules bind the loaders at import (`from causalclf.backbones.loading import load_model`),
    so they are imported first and patched where they hold the names: patched only in
    `causalclf.backbones`, a method module imported meanwhile would keep the tripwire for good.
    """
    import importlib

    from causalclf.cli import main

    def tripwire(*args, **kwargs):
        raise AssertionError("something was loaded before the config was checked")

    holders = [
        importlib.import_module(name)
        for name in (
            "causalclf.backbones.loading",
            "causalclf.data.loaders",
            "causalclf.methods.transformer",
            "causalclf.methods.embedding_head.classifier",
            "causalclf.methods.encoder.classifier",
            "causalclf.methods.instruction.classifier",
            "causalclf.methods.prompting.classifier",
            "causalclf.cli.train",
        )
    ]  # all imported before any is patched
    for module in holders:
        for name in ("load_model", "load_tokenizer", "load_dataset"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, tripwire)
    for keys in (
        {"method": "embedding_head", "pooling": "cls"},
        {"method": "instruction", "lora": None},
        {"method": "prompt", "base_url": "http://localhost:1/v1"},
    ):
        assert main(["train", str(config(tmp_path, data, **keys))]) == 2
    err = capsys.readouterr().err
    assert "pooling: 'cls' is not one of" in err and "instruction tuning trains LoRA adapters" in err
    assert "an endpoint (base_url) needs api_model" in err


def test_a_label_only_outside_the_training_split_is_warned_counted_and_scored_wrong(tmp_path, data):
    rows = list(csv.reader(open(data)))
    rows.append(["a lonely text of the rare class", "rare"])  # one row: it cannot be in train and test both
    with open(data, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    # the rare row is one of 61; with this seed it lands in test (checked below), never in train
    cfg = config(tmp_path, data, data={"path": str(data), "split": {"train": 0.5, "test": 0.5}})
    done = run("train", str(cfg), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    where = "test" if metrics["n_unseen"] else "train"
    if where == "test":
        assert "class(es) never seen in training but present in the test split: 'rare' (1 item)" in done.stderr
        assert metrics["unseen_labels"] == {"rare": 1} and "never saw in training" in done.stdout
    else:  # a class with a single row is kept in train (and said so)
        assert "class 'rare' has 1 row: too few rows to stratify" in done.stderr
    # evaluating on a file with a label the model never saw: counted and scored wrong, no crash
    extra = tmp_path / "more.csv"
    extra.write_text("text,label\ngoal match team,sport\nsomething else entirely,unheard-of\n")
    done = run("evaluate", str(tmp_path / "run" / "model"), str(extra), "-o", str(tmp_path / "eval"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "scoring every row of" in done.stdout and "scored 2 texts" in done.stdout
    assert (
        "1 item(s) carry a true label the model never saw in training, scored as wrong: 'unheard-of' (1)" in done.stdout
    )


def test_evaluate_scores_every_row_of_a_plain_file_unless_a_split_is_asked_for(tmp_path, data):
    assert run("train", str(config(tmp_path, data)), cwd=tmp_path).returncode == 0
    model = str(tmp_path / "run" / "model")
    whole = run("evaluate", model, str(data), "-o", str(tmp_path / "all"), cwd=tmp_path)
    assert whole.returncode == 0 and "scored 60 texts" in whole.stdout
    part = run("evaluate", model, str(data), "--split", "test", "-o", str(tmp_path / "test"), cwd=tmp_path)
    assert part.returncode == 0 and "scored 6 texts" in part.stdout and "the test split" in part.stdout


@pytest.mark.parametrize("missing", ["NaN", "nan", "NA", "N/A", "None", "null", ""])
def test_strings_that_mean_missing_are_bad_rows_never_classes(tmp_path, data, missing):
    with open(data, "a", newline="") as f:
        csv.writer(f).writerow(["a text whose label is missing", missing])
    refused = run("train", str(config(tmp_path, data)), cwd=tmp_path)
    assert_user_error(refused, "data.csv, line 62, column 'label'", "on_error")
    cfg = config(tmp_path, data, data={"path": str(data), "on_error": "skip"})
    done = run("train", str(cfg), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "read 61 rows, kept 60; 1 bad row skipped" in done.stdout  # rows in = rows used + rows skipped
    labels = json.loads((tmp_path / "run" / "model" / "causalclf.json").read_text())["label_space"]["names"]
    assert labels == ["film", "money", "sport"]


def test_exact_duplicates_are_dropped_and_reported(tmp_path, data):
    rows = list(csv.reader(open(data)))
    with open(data, "a", newline="") as f:
        csv.writer(f).writerows(rows[1:3])  # two rows again
    done = run("train", str(config(tmp_path, data)), cwd=tmp_path)
    assert done.returncode == 0 and "read 62 rows, kept 60; 2 exact duplicate texts dropped" in done.stdout


def test_data_that_cleaning_leaves_too_small_to_split_says_so_with_the_counts(tmp_path):
    data = tmp_path / "repeated.csv"
    words = ["goal match", "bank stock", "film star", "vote law"]
    with open(data, "w", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *((words[i % 4], f"c{i % 4}") for i in range(60))])
    assert_user_error(
        run("train", str(config(tmp_path, data)), cwd=tmp_path),
        "too few rows to split",
        "read 60 rows, kept 4; 56 exact duplicate texts dropped",
        "train 4, validation 0, test 0",
    )
    assert not (tmp_path / "run").exists()


def test_one_class_left_for_training_is_named(tmp_path):
    data = tmp_path / "one.csv"
    with open(data, "w", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *((f"goal match {i}", "sport") for i in range(30))])
    assert_user_error(run("train", str(config(tmp_path, data)), cwd=tmp_path), "of one class (sport)", "at least two")


def test_given_validation_and_test_splits_are_kept_as_given(tmp_path):
    """Duplicates across given splits leave train (they would leak), never the test split: results stay
    comparable with others' on the official split."""
    texts, labels = toy_single_label(20)
    train, test = list(zip(texts, labels))[:40], list(zip(texts, labels))[40:]
    test += [test[0], test[1]]  # repeats inside the test split: kept
    train += [test[2], test[3], train[0]]  # two test texts in train (dropped from train) and a repeat
    for name, rows in (("train", train), ("test", test)):
        with open(tmp_path / f"{name}.csv", "w", newline="") as f:
            csv.writer(f).writerows([("text", "label"), *rows])
    cfg = config(tmp_path, tmp_path, data={"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")})
    done = run("train", str(cfg), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n"] == len(test) == 22
    assert (
        "1 exact duplicate text dropped; 2 training texts also in the validation or test split dropped from "
        "train (train.csv:42, train.csv:43)" in done.stdout
    )


def test_out_of_range_command_options_and_sizes_beyond_the_data_are_refused(tmp_path, data):
    assert_user_error(
        run("serve", str(tmp_path), "--port", "99999", cwd=tmp_path), "--port: 99999 must lie in [0, 65535]"
    )
    assert_user_error(
        run("predict", str(tmp_path), str(data), "--chunk-rows", "0", cwd=tmp_path), "--chunk-rows: 0 must be above 0"
    )
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(
        yaml.safe_dump(
            {
                "data": {"path": str(data)},
                "train_sizes": [10, 100000],
                "methods": {"tfidf": {"method": "tfidf"}},
                "output_dir": str(tmp_path / "e"),
            }
        )
    )
    assert_user_error(
        run("compare", str(experiment), cwd=tmp_path),
        "train_sizes [100000] ask for more than the 48 rows",
        "write all instead",
    )


def test_a_damaged_or_foreign_model_folder_is_named(tmp_path, data):
    assert run("train", str(config(tmp_path, data)), cwd=tmp_path).returncode == 0
    model = tmp_path / "run" / "model"
    (model / "causalclf.json").write_text('{"method": "tfidf", "par')
    assert_user_error(run("evaluate", str(model), str(data), cwd=tmp_path), "causalclf.json is damaged")
    assert_user_error(run("evaluate", str(tmp_path), str(data), cwd=tmp_path), "is not a causalclf model folder")


def test_output_paths_are_checked_before_any_work(tmp_path, data):
    assert run("train", str(config(tmp_path, data)), cwd=tmp_path).returncode == 0
    model = str(tmp_path / "run" / "model")
    (tmp_path / "a-file").write_text("x")
    assert_user_error(
        run("evaluate", model, str(data), "-o", str(tmp_path / "a-file"), cwd=tmp_path), "is a file; give a folder"
    )
    assert_user_error(
        run("bench", model, "--input", str(data), "-o", str(tmp_path / "no" / "such" / "b.json"), cwd=tmp_path),
        "does not exist; create it first",
    )


def test_a_missing_input_is_named_before_the_model_loads(tmp_path, data):
    assert run("train", str(config(tmp_path, data)), cwd=tmp_path).returncode == 0
    model = tmp_path / "run" / "model"
    for weights in model.iterdir():  # its config still reads, so only loading the model could fail
        if weights.name != "causalclf.json":
            weights.unlink()
    model, missing = str(model), str(tmp_path / "missing.csv")
    for args in (
        ("evaluate", model, missing),
        ("bench", model, "--input", missing),
        ("doctor", model, "--input", missing),
        ("distill", model, str(data), "--unlabeled", missing),
    ):
        assert_user_error(run(*args, cwd=tmp_path), "missing.csv")
    assert_user_error(run("bench", str(tmp_path), "--input", missing, cwd=tmp_path), "not a causalclf model folder")


def test_unknown_explain_topic_and_debug_traceback(tmp_path):
    assert_user_error(run("explain", "embeding_head", cwd=tmp_path), "did you mean 'embedding_head'")
    debug = run_process("--debug", "explain", "embeding_head", cwd=tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_predict_refuses_a_missing_output_folder_before_work_and_skips_bad_rows_when_told(tmp_path, data):
    assert run("train", str(config(tmp_path, data)), cwd=tmp_path).returncode == 0
    model = str(tmp_path / "run" / "model")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(
        '{"text": "goal match team"}\n{"text": ""}\nnot json\n{"body": "no text column"}\n'
        '{"text": "bank stock profit"}\n'
    )
    assert_user_error(
        run("predict", model, str(inputs), "-o", str(tmp_path / "missing" / "out.jsonl"), cwd=tmp_path),
        "does not exist",
    )
    assert_user_error(
        run("predict", model, str(inputs), "-o", str(tmp_path / "out.jsonl"), cwd=tmp_path),
        "in.jsonl, line 2",
        "--on-error skip",
    )
    done = run("predict", model, str(inputs), "-o", str(tmp_path / "out.jsonl"), "--on-error", "skip", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [w["label"] for w in written] == ["sport", "money"]
    assert "3 bad rows skipped" in done.stderr + done.stdout  # rows in (5) = written (2) + skipped (3)


def test_a_csv_field_longer_than_the_csv_modules_default_limit_trains(tmp_path, data):
    long_text = "goal match team " * 20_000  # 320,000 characters, over csv's 131,072 default
    with open(data, "a", newline="") as f:
        csv.writer(f).writerow([long_text, "sport"])
    done = run("train", str(config(tmp_path, data)), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "read 61 rows, kept 61" in done.stdout
