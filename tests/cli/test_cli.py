"""The command line end to end on tiny data: train -> predict -> evaluate -> report."""

from __future__ import annotations

import json

import pytest
import yaml

from causalclf.cli import main
from causalclf.errors import ConfigError
from causalclf.run_config import parse_config
from tests.methods._encoders import tiny_bert  # noqa: F401  (fixture)
from tests.toy import toy_single_label


@pytest.fixture()
def toy_jsonl(tmp_path):
    texts, labels = toy_single_label(20)
    path = tmp_path / "toy.jsonl"
    path.write_text("".join(json.dumps({"body": t, "topic": y}) + "\n" for t, y in zip(texts, labels)))
    return path


def _config(tmp_path, toy_jsonl, **method):
    cfg = {
        "data": {"path": str(toy_jsonl), "text": "body", "label": "topic"},
        "output_dir": str(tmp_path / "run"),
        **method,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_train_predict_evaluate_report_with_embedding_head(tmp_path, toy_jsonl, tiny_llama, capsys):
    cfg = _config(
        tmp_path,
        toy_jsonl,
        method="embedding_head",
        model=tiny_llama,
        lora={"r": 4},
        training={"epochs": 8, "batch_size": 8, "learning_rate": 0.005, "progress_bar": False},
    )
    assert main(["train", str(cfg)]) == 0
    printed = capsys.readouterr().out
    assert "macro" in printed.lower() and "causalclf predict" in printed
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["info"]["method"] == "embedding_head"
    assert metrics["info"]["trainable_parameters"] > 0 and metrics["info"]["docs_per_second"] > 0
    assert metrics["macro_f1"] >= 0.8  # the toy task is separable

    inputs = tmp_path / "new.txt"
    inputs.write_text("goal match team\nbank stock profit\n")
    out = tmp_path / "pred.jsonl"
    assert main(["predict", str(run / "model"), str(inputs), "-o", str(out)]) == 0
    preds = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["label"] for p in preds] == ["sport", "money"]
    assert abs(sum(preds[0]["proba"].values()) - 1) < 1e-6

    assert main(["evaluate", str(run / "model"), str(cfg), "-o", str(tmp_path / "eval")]) == 0
    again = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert again["macro_f1"] == pytest.approx(metrics["macro_f1"])

    assert main(["report", str(run), str(tmp_path / "eval"), "-o", str(tmp_path / "report")]) == 0
    html = (tmp_path / "report" / "report.html").read_text()
    assert "run" in html and "eval" in html


def test_train_tfidf_from_yaml(tmp_path, toy_jsonl):
    cfg = _config(tmp_path, toy_jsonl, method="tfidf", C=5.0)
    assert main(["train", str(cfg)]) == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["macro_f1"] >= 0.8


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"method": "tfidf"}, "missing required key 'data'"),
        ({"data": "bbc-news", "method": "embeding_head"}, "did you mean 'embedding_head'"),
        (
            {"data": "bbc-news", "method": "embedding_head", "polling": "last"},
            "unknown key 'polling'.*did you mean 'pooling'",
        ),
        (
            {"data": "bbc-news", "method": "embedding_head", "max_length": "long"},
            "max_length: 'long' is not an integer",
        ),
        (
            {"data": "bbc-news", "method": "embedding_head", "training": {"epoch": 1}},
            "training: unknown key 'epoch'.*did you mean 'epochs'",
        ),
        (
            {"data": "bbc-news", "method": "embedding_head", "lora": {"rank": 8}},
            "lora: unknown key 'rank'.*LoraConfig accepts",
        ),
        ({"data": "bbc-news", "method": "tfidf", "train_size": -3}, "train_size: -3 must be above 0"),
        (
            {"data": "bbc-news", "method": "tfidf", "distill": {"studnet": {}}},
            "distill: unknown key 'studnet'.*did you mean 'student'",
        ),
        (["data"], "top level must be a mapping"),
    ],
)
def test_config_errors_name_the_key_and_why(raw, message):
    """Each mistake alone in an otherwise valid config (bbc-news is a named dataset) is named."""
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, "cfg.yaml")


def test_cli_reports_config_errors_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: bbc-news\nmethod: embedding_head\npolling: last\n")
    assert main(["train", str(bad)]) == 2
    assert "unknown key 'polling'" in capsys.readouterr().err


def test_calibrate_fits_temperature_on_validation_and_reports_before_after(tmp_path, toy_jsonl):
    from causalclf.methods import load_classifier

    cfg = _config(tmp_path, toy_jsonl, method="tfidf", C=100.0, calibrate=True)
    assert main(["train", str(cfg)]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    cal = metrics["info"]["calibration"]
    assert cal["nll_after"] <= cal["nll_before"] + 1e-9  # fitted by minimising validation NLL
    assert cal["temperature"] != 1.0
    assert "ece_uncalibrated" in metrics["info"] and "ece" in metrics
    loaded = load_classifier(tmp_path / "run" / "model")
    assert float(loaded.temperature_) == pytest.approx(cal["temperature"])  # applied at predict time


@pytest.mark.parametrize(
    "method, params",
    [
        (
            "instruction",
            {
                "inference": "constrained",
                "lora": {"r": 4},
                "max_length": 16,
                "training": {"epochs": 1, "batch_size": 8, "progress_bar": False},
            },
        ),
        ("prompt", {"k_shot": 1}),
    ],
)
def test_train_accepts_instruction_and_prompt_methods(tmp_path, toy_jsonl, tiny_llama, method, params):
    cfg = _config(tmp_path, toy_jsonl, method=method, model=tiny_llama, **params)
    assert main(["train", str(cfg)]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["info"]["method"] == method and metrics["n"] > 0
    preds = [json.loads(line)["pred"] for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    assert set(preds) <= {"film", "money", "sport"}  # constrained/scored: always a valid label
    out = tmp_path / "pred.jsonl"
    (tmp_path / "new.txt").write_text("goal match team\n")
    assert main(["predict", str(tmp_path / "run" / "model"), str(tmp_path / "new.txt"), "-o", str(out)]) == 0
    assert json.loads(out.read_text())["label"] in {"film", "money", "sport"}


def _tiny_student(tiny_bert) -> dict:
    return {
        "model": tiny_bert,
        "max_length": 32,
        "training": {"epochs": 6, "learning_rate": 3e-3, "batch_size": 8, "progress_bar": False, "logging_steps": 1000},
    }


def test_encoder_from_yaml_with_a_distill_section(tmp_path, toy_jsonl, tiny_bert):
    # The teacher here is the encoder itself (method: encoder); its student is a second tiny BERT.
    cfg = _config(
        tmp_path,
        toy_jsonl,
        method="encoder",
        **_tiny_student(tiny_bert),
        distill={"student": _tiny_student(tiny_bert), "temperature": 2.0, "alpha": 0.5},
    )
    assert main(["train", str(cfg)]) == 0
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["info"]["method"] == "encoder" and metrics["macro_f1"] >= 0.8
    student_run = json.loads((run / "student" / "metrics.json").read_text())
    assert student_run["info"]["teacher"] == str(run / "model")
    assert (run / "student" / "model" / "causalclf.json").is_file()


def test_distill_verb(tmp_path, toy_jsonl, tiny_bert, capsys):
    cfg = _config(tmp_path, toy_jsonl, method="tfidf")
    assert main(["train", str(cfg)]) == 0
    more = tmp_path / "more.txt"
    more.write_text("\n".join(toy_single_label(6, seed=5)[0]) + "\n")
    out = tmp_path / "student"
    assert (
        main(
            [
                "distill",
                str(tmp_path / "run" / "model"),
                str(cfg),
                "-o",
                str(out),
                "--student",
                tiny_bert,
                "--epochs",
                "6",
                "--learning-rate",
                "0.003",
                "--max-length",
                "32",
                "--unlabeled",
                str(more),
                "--int8-inference",
            ]
        )
        == 0
    )
    record = json.loads((out / "distill.json").read_text())
    from causalclf.data import load_dataset

    n_train = len(load_dataset({"path": str(toy_jsonl), "text": "body", "label": "topic"})["train"])
    assert record["n_train"] == n_train + 18  # the training split plus the unlabelled texts
    assert record["kl_after"] < record["kl_before"]
    from causalclf.methods import load_classifier

    student = load_classifier(out / "model")
    assert student.int8_inference and (out / "metrics.json").is_file()
