"""The experiment runner: methods x seeds on one slice, a paired table, resume, stale-run guard."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from causalclf.cli import main
from causalclf.errors import ConfigError
from causalclf.evaluation import load_run
from causalclf.evaluation.comparison import comparison_table
from causalclf.evaluation.document import markdown_table
from causalclf.experiments.runner import _spec, run_experiment
from causalclf.experiments.spec import ExperimentError, parse_experiment
from tests.methods._encoders import fast_training, one_thread, tiny_bert  # noqa: F401  (fixtures)
from tests.toy import toy_single_label

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def toy_data(tmp_path):
    texts, labels = toy_single_label(24)
    path = tmp_path / "toy.jsonl"
    path.write_text("".join(json.dumps({"body": t, "topic": y}) + "\n" for t, y in zip(texts, labels)))
    return {"path": str(path), "text": "body", "label": "topic"}


def _raw(tmp_path, toy_data, tiny_bert, **overrides) -> dict:
    return {
        "name": "toy experiment",
        "data": toy_data,
        "seeds": [1, 2],
        "output_dir": str(tmp_path / "exp"),
        "methods": {
            "tfidf": {"method": "tfidf"},
            "encoder": {"method": "encoder", "model": tiny_bert, "training": fast_training(epochs=4)},
        },
        **overrides,
    }


def _rows(out) -> list[dict]:
    with open(out / "results.csv") as f:
        return list(csv.DictReader(f))


def test_runs_every_method_and_seed_on_one_slice_and_pairs_them(tmp_path, toy_data, tiny_bert):
    experiment = parse_experiment(_raw(tmp_path, toy_data, tiny_bert))
    assert [(r.method, r.seed) for r in experiment.runs()] == [("tfidf", None), ("encoder", 1), ("encoder", 2)]
    assert experiment.reference == "tfidf"
    result = run_experiment(experiment)

    out = tmp_path / "exp"
    runs = {(r.method, r.seed): load_run(r.config.output_dir) for r in experiment.runs()}
    assert [runs["encoder", s].info["seed"] for s in (1, 2)] == [1, 2]  # the seed reached training
    assert not np.allclose(runs["encoder", 1].proba, runs["encoder", 2].proba)  # and changed what was learnt
    assert len({tuple(map(str, r.y_true)) for r in runs.values()}) == 1  # the very same test items

    rows = _rows(out)
    assert [(r["method"], r["seed"]) for r in rows] == [("tfidf", ""), ("encoder", "1"), ("encoder", "2")]
    by_key = {(m, s): r.metrics["macro_f1"] for (m, s), r in runs.items()}
    micro = {(m, s): r.metrics["micro_f1"] for (m, s), r in runs.items()}
    expected = np.mean([by_key["encoder", s] - by_key["tfidf", None] for s in (1, 2)])
    table = (out / "table.md").read_text()
    assert result["table"] in table and "(reference)" in table
    encoder_line = next(line for line in table.splitlines() if line.startswith("| encoder"))
    assert f"{expected:+.4f}" in encoder_line and "(n=2)" in encoder_line
    assert (out / "report" / "report.html").is_file()

    # item-level significance of each seed of the encoder against the deterministic reference
    significance = {int(r["seed"]): r for r in csv.DictReader(open(out / "significance.csv"))}
    assert sorted(significance) == [1, 2]
    for seed, row in significance.items():
        assert float(row["delta_macro_f1"]) == pytest.approx(by_key["encoder", seed] - by_key["tfidf", None])
        assert float(row["ci_low"]) <= float(row["delta_macro_f1"]) <= float(row["ci_high"])
        assert float(row["delta_micro_f1"]) == pytest.approx(micro["encoder", seed] - micro["tfidf", None])
        assert float(row["micro_ci_low"]) <= float(row["delta_micro_f1"]) <= float(row["micro_ci_high"])
    assert "Paired significance against tfidf" in table
    assert all(r["peak_memory_mib"] and float(r["peak_memory_mib"]) > 0 for r in rows)


def test_learning_curves_are_nested_stratified_and_shared_by_every_method(tmp_path, toy_data, tiny_bert):
    experiment = parse_experiment(_raw(tmp_path, toy_data, tiny_bert, seeds=[1], train_sizes=[9, 18, "all"]))
    result = run_experiment(experiment)
    runs = {(r.method, r.size): load_run(r.config.output_dir) for r in experiment.runs()}
    assert sorted({size for _, size in runs}, key=str) == [18, 9, "all"]

    from causalclf.data import load_dataset

    slices = experiment.slices(load_dataset(toy_data))
    train = {size: slices[size]["train"] for size in (9, 18, "all")}
    assert [len(train[s]) for s in (9, 18, "all")] == [9, 18, len(load_dataset(toy_data)["train"])]
    assert set(train[9].ids) < set(train[18].ids) < set(train["all"].ids)  # nested
    for size in (9, 18):  # stratified: every class, in proportion to within one item
        counts = train[size].label_counts()
        assert set(counts) == {"film", "money", "sport"} and max(counts.values()) - min(counts.values()) <= 1
    # every method trained on the very same items at each size
    for size in (9, 18, "all"):
        assert runs["tfidf", size].info["n_train"] == runs["encoder", size].info["n_train"] == len(train[size])
    assert slices[9]["test"].ids == slices["all"]["test"].ids

    out = tmp_path / "exp"
    rows = _rows(out)
    assert [(r["method"], r["train_size"]) for r in rows] == [
        ("tfidf", "9"),
        ("tfidf", "18"),
        ("tfidf", "all"),
        ("encoder", "9"),
        ("encoder", "18"),
        ("encoder", "all"),
    ]
    significance = list(csv.DictReader(open(out / "significance.csv")))
    assert [r["train_size"] for r in significance] == ["9", "18", "all"]  # each size its own comparison
    assert (out / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    table = (out / "table.md").read_text()
    assert "Macro-F1 by training size" in table and "## Training size 9 (9 documents)" in table
    assert (out / "report" / "n-9" / "report.html").is_file()
    assert "Learning curves" in (out / "report" / "n-all" / "report.md").read_text()
    assert (
        "Data: read 72 rows, kept 72; split by causalclf: train 80% / validation 10% / test 10% (stratified, "
        "seed 42)" in (out / "report" / "n-9" / "report.md").read_text()
    )
    assert result["table"] in table


def test_runs_go_seed_by_seed_and_methods_may_take_fewer_seeds_and_sizes(tmp_path, toy_data, tiny_bert):
    raw = _raw(tmp_path, toy_data, tiny_bert, seeds=[1, 2], train_sizes=[9, "all"])
    raw["methods"]["slow"] = {"method": "encoder", "model": tiny_bert, "seeds": [1], "train_sizes": ["all"]}
    planned = [(r.method, r.size, r.seed) for r in parse_experiment(raw).runs()]
    assert planned == [
        ("tfidf", 9, None),
        ("tfidf", "all", None),
        ("encoder", 9, 1),
        ("encoder", "all", 1),
        ("slow", "all", 1),
        ("encoder", 9, 2),
        ("encoder", "all", 2),
    ]


def test_rerun_resumes_and_changed_settings_are_refused(tmp_path, toy_data, tiny_bert, monkeypatch):
    raw = _raw(tmp_path, toy_data, tiny_bert, seeds=[1])
    run_experiment(parse_experiment(raw))

    import causalclf.pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(causalclf.pipeline, "fit_and_evaluate", refuse)
    run_experiment(parse_experiment(raw))  # everything finished: nothing retrains

    raw["methods"]["tfidf"]["C"] = 1.0
    with pytest.raises(ExperimentError, match="other settings"):
        run_experiment(parse_experiment(raw))


def test_an_interrupted_run_is_run_again(tmp_path, toy_data, tiny_bert):
    raw = _raw(tmp_path, toy_data, tiny_bert, seeds=[1])
    experiment = parse_experiment(raw)
    run_experiment(experiment)
    (experiment.run_dir("encoder", 1) / "metrics.json").unlink()  # as if killed before evaluating
    run_experiment(experiment)
    assert (experiment.run_dir("encoder", 1) / "metrics.json").is_file()


def test_a_folder_the_runner_did_not_make_is_never_overwritten(tmp_path, toy_data, tiny_bert):
    experiment = parse_experiment(_raw(tmp_path, toy_data, tiny_bert))
    foreign = experiment.run_dir("tfidf", None)
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ExperimentError, match="not written by this experiment runner"):
        run_experiment(experiment)
    assert (foreign / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"method": "tfidf"}, "unknown key 'method'"),
        ({"seed": [1]}, "unknown key 'seed'.*did you mean 'seeds'"),
        ({"seeds": 3}, "seeds: 3 is not a list"),
        ({"seeds": [1, 1]}, "seeds: \\[1, 1\\] must be a non-empty list of distinct values"),
        ({"reference": "encodr"}, "reference 'encodr' is not a method.*did you mean 'encoder'"),
        ({"methods": {"tfidf": {"method": "tfidf", "train_size": 5}}}, "'train_size' is set for the whole experiment"),
        (
            {"methods": {"tfidf": {"method": "tfidf", "max_featurs": 9}}},
            "methods.tfidf.*unknown key 'max_featurs'.*did you mean 'max_features'",
        ),
        ({"methods": {}}, "non-empty mapping"),
        ({"train_sizes": [10, "most"]}, "train_sizes\\[1\\]: 'most' is not an integer or one of 'all'"),
        ({"train_sizes": [10], "train_size": 20}, "not both"),
        ({"methods": {"tfidf": {"method": "tfidf", "seeds": [7]}}}, "'seeds' must be a non-empty subset"),
        (
            {"methods": {"tfidf": {"method": "tfidf", "train_sizes": ["all"]}}},
            "'train_sizes' must be a non-empty subset",
        ),
    ],
)
def test_bad_experiments_are_named_before_anything_trains(tmp_path, toy_data, tiny_bert, change, message):
    with pytest.raises(ConfigError, match=message):
        parse_experiment(_raw(tmp_path, toy_data, tiny_bert, **change))


def test_table_pairs_by_seed_and_leaves_out_unpaired_seeds():
    rows = [
        {"method": "a", "seed": 1, "macro_f1": 0.8},
        {"method": "a", "seed": 2, "macro_f1": 0.9},
        {"method": "b", "seed": 1, "macro_f1": 0.7},
        {"method": "b", "seed": 3, "macro_f1": 0.1},
    ]
    for row in rows:
        row.update(
            accuracy=row["macro_f1"],
            micro_f1=row["macro_f1"],
            ece=None,
            trainable_parameters=10,
            train_seconds=1.0,
            docs_per_second=2.0,
            peak_memory_mib=100.0,
        )
    line = next(line for line in markdown_table(comparison_table(rows, "a")).splitlines() if line.startswith("| b "))
    assert "-0.1000 (n=1)" in line  # only seed 1 is shared: 0.7 - 0.8
    assert "0.4000 ± 0.4243" in line  # b's own spread over its two seeds


def test_compare_verb(tmp_path, toy_data, tiny_bert, capsys):
    path = tmp_path / "experiment.yaml"
    raw = _raw(tmp_path, toy_data, tiny_bert, seeds=[3])
    path.write_text(yaml.safe_dump(raw, sort_keys=False))  # keeps the methods in order
    assert main(["compare", str(path), "--output-dir", str(tmp_path / "elsewhere"), "--seeds", "4", "5"]) == 0
    assert "Δ macro-F1 vs tfidf" in capsys.readouterr().out
    assert [r["seed"] for r in _rows(tmp_path / "elsewhere")] == ["", "4", "5"]
    # the finished runs are read back; only the named methods are planned and reported
    assert (
        main(
            [
                "compare",
                str(path),
                "--output-dir",
                str(tmp_path / "elsewhere"),
                "--seeds",
                "4",
                "5",
                "--methods",
                "tfidf",
                "--report-only",
            ]
        )
        == 0
    )
    assert [r["method"] for r in _rows(tmp_path / "elsewhere")] == ["tfidf"]

    path.write_text(yaml.safe_dump({**raw, "methods": {"x": {"method": "tfidf", "polling": 1}}}))
    assert main(["compare", str(path)]) == 2
    assert "unknown key 'polling'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name, reference, n_runs",
    [
        ("experiment_bbc.yaml", "embedding-head", 10),
        ("experiment_uspto.yaml", "embedding-head", 9),
        ("experiment_reuters.yaml", "embedding-head", 9),
        ("experiment_ag_news.yaml", "embedding-head", 49),
        ("experiment_bbc_full.yaml", "embedding-head", 30),
        ("ablation_pooling_bbc.yaml", "last", 9),
        ("ablation_verbalizer_bbc.yaml", "name", 9),
        ("ablation_head_bias_bbc.yaml", "bias", 6),
    ],
)
def test_bundled_experiment_configs_are_valid(name, reference, n_runs):
    from causalclf.experiments.spec import load_experiment

    experiment = load_experiment(Path(__file__).parents[1] / "configs" / name)
    assert experiment.reference == reference and len(experiment.runs()) == n_runs


def test_restrict_plans_a_subset_of_the_same_runs_on_the_same_slices():
    from causalclf.experiments.spec import load_experiment, restrict

    path = Path(__file__).parents[1] / "configs" / "experiment_bbc_full.yaml"
    whole = load_experiment(path)
    part = restrict(load_experiment(path), ["embedding-head", "instruction"], ["all"])
    part.seeds = [1]
    assert [(r.method, r.size, r.seed) for r in part.runs()] == [
        ("embedding-head", "all", 1),
        ("instruction", "all", 1),
    ]
    planned = {run.config.output_dir: _spec(run, whole) for run in whole.runs()}
    assert all(planned[run.config.output_dir] == _spec(run, part) for run in part.runs())
    assert part.sizes() == whole.sizes() == [100, 300, "all"]  # so the nested slices are drawn alike

    with pytest.raises(ConfigError, match="no method 'instructions'.*instruction"):
        restrict(load_experiment(path), ["instructions"])
    with pytest.raises(ConfigError, match="keep the reference 'embedding-head'"):
        restrict(load_experiment(path), ["instruction"])
    with pytest.raises(ConfigError, match="train_sizes"):
        restrict(load_experiment(path), sizes=["1000"])


@pytest.mark.parametrize("name", ["bbc_embedding_head.yaml", "bbc_tfidf.yaml", "uspto_embedding_head.yaml"])
def test_bundled_run_configs_are_valid(name):
    from causalclf.run_config import load_config

    assert load_config(Path(__file__).parents[1] / "configs" / name).method


def test_report_only_tables_the_finished_runs_and_names_the_missing(tmp_path, toy_data, tiny_bert, monkeypatch):
    raw = _raw(tmp_path, toy_data, tiny_bert, seeds=[1, 2])
    experiment = parse_experiment(raw)
    run_experiment(parse_experiment({**raw, "seeds": [1]}))  # as if stopped after the first seed

    import causalclf.pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("--report-only trained a run")

    monkeypatch.setattr(causalclf.pipeline, "fit_and_evaluate", refuse)
    result = run_experiment(experiment, train=False)
    assert [(r["method"], r["seed"]) for r in result["rows"]] == [("tfidf", None), ("encoder", 1)]
    table = (tmp_path / "exp" / "table.md").read_text()
    assert "Partial: 2 of 3 planned runs finished; not yet run: encoder seed 2." in table
    assert "peak MiB" in table

    empty = parse_experiment({**raw, "output_dir": str(tmp_path / "nothing")})
    with pytest.raises(ExperimentError, match="no run has finished yet"):
        run_experiment(empty, train=False)
