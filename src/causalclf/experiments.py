"""A YAML experiment: one dataset x several methods x several seeds -> one comparison table.

    name: bbc-news, head vs baselines
    data: bbc-news                 # as in a run config
    train_size: 400                # optional stratified slices, drawn once for every run
    validation_size: 100
    seeds: [1, 2, 3]
    output_dir: runs/experiments/bbc
    reference: embedding-head      # what every other method is compared with (default: the first)
    methods:                       # name -> a run config's method keys
      embedding-head: {method: embedding_head, model: smollm2-135m, lora: {r: 8}, max_length: 64}
      tfidf: {method: tfidf}

Every (method, seed) trains through `fit_and_evaluate`, the same code as `causalclf train`,
on the same slices, so all runs score the very same test items and pair by seed. A seed
goes to ``training.seed`` (or a method's own ``seed``); a method with neither (TF-IDF) is
deterministic and runs once. A finished run is not run again, so rerunning after an
interruption resumes; a run folder made with other settings is an error, never reused.

Outputs in `output_dir`: ``runs/<method>/seed-<s>/`` (model and test predictions),
``results.csv`` (a row per run), ``table.md`` (mean ± std over seeds, the paired delta to
the reference) and ``report/`` (`write_report`: plots and item-level significance).
"""
from __future__ import annotations

import csv
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from causalclf.config import ConfigError, RunConfig, _suggest, parse_config, read_yaml

EXPERIMENT_KEYS = {
    "name": "title of the table and the report",
    "data": "dataset: a bundled name, a path, or a mapping of DataConfig keys",
    "train_size": "stratified slice of the training split, the same for every run",
    "validation_size": "stratified slice of the validation split",
    "test_size": "stratified slice of the test split",
    "data_seed": "seed of those slices (default 42)",
    "seeds": "training seeds, a list of integers (default [42])",
    "output_dir": "folder for the runs, the table and the report",
    "reference": "method name the others are compared with (default: the first listed)",
    "methods": "mapping of a name to a run config's method keys (method: ..., its parameters)",
}
SPEC_FILE = "experiment-run.json"


class ExperimentError(RuntimeError):
    """The output folder holds runs that this experiment did not make, or made differently."""

RESULT_COLUMNS = ("method", "seed", "accuracy", "micro_f1", "macro_f1", "ece", "trainable_parameters",
                  "train_seconds", "docs_per_second", "attempts", "collapsed")


@dataclass
class Experiment:
    """A validated experiment: one `RunConfig` per method (seed and output folder set per run)."""

    name: str
    data: Any
    methods: dict[str, RunConfig]
    seeds: list[int] = field(default_factory=lambda: [42])
    output_dir: str = "runs/experiment"
    reference: str | None = None
    train_size: int | None = None
    validation_size: int | None = None
    test_size: int | None = None
    data_seed: int = 42

    def runs(self) -> list[tuple[str, int | None, RunConfig]]:
        """Every (method, seed, config) to train, in order: methods outer, seeds inner."""
        out = []
        for method, config in self.methods.items():
            for seed in self.seeds if seeded(config) else [None]:
                run = RunConfig(**{**vars(config), "params": with_seed(config, seed)})
                run.output_dir = str(self.run_dir(method, seed))
                run.name = method if seed is None else f"{method} seed {seed}"
                out.append((method, seed, run))
        return out

    def run_dir(self, method: str, seed: int | None) -> Path:
        return Path(self.output_dir) / "runs" / method / ("deterministic" if seed is None else f"seed-{seed}")


def _init_params(config: RunConfig):
    from causalclf.methods import get_method

    return inspect.signature(get_method(config.method).__init__).parameters


def seeded(config: RunConfig) -> bool:
    """Whether a seed changes what `config`'s method learns."""
    params = _init_params(config)
    return "training" in params or "seed" in params


def with_seed(config: RunConfig, seed: int | None) -> dict:
    """The method parameters with `seed` in ``training.seed`` (or ``seed``)."""
    params = dict(config.params)
    if seed is None:
        return params
    if "training" in _init_params(config):
        from causalclf.training import TrainingConfig

        training = params.get("training")
        base = vars(training).copy() if isinstance(training, TrainingConfig) else dict(training or {})
        params["training"] = {**base, "seed": seed}
    else:
        params["seed"] = seed
    return params


def parse_experiment(raw: Any, source: str = "experiment") -> Experiment:
    """Validate a loaded YAML mapping (every method's parameters included) before anything trains."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, not {type(raw).__name__}")
    for key in raw:
        if key not in EXPERIMENT_KEYS:
            raise ConfigError(f"{source}: unknown key {key!r}{_suggest(key, EXPERIMENT_KEYS)}; "
                              f"known: {', '.join(sorted(EXPERIMENT_KEYS))}")
    for key in ("data", "methods"):
        if key not in raw:
            raise ConfigError(f"{source}: missing required key {key!r} ({EXPERIMENT_KEYS[key]})")
    methods = raw["methods"]
    if not isinstance(methods, dict) or not methods:
        raise ConfigError(f"{source}: 'methods' must be a non-empty mapping of name -> method keys")
    seeds = raw.get("seeds", [42])
    if (not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise ConfigError(f"{source}: 'seeds' must be a non-empty list of distinct integers, got {seeds!r}")
    shared = {k: raw[k] for k in ("data", "train_size", "validation_size", "test_size") if k in raw}
    configs = {}
    for name, spec in methods.items():
        where = f"{source} methods.{name}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: must be a mapping with a 'method' key, not {type(spec).__name__}")
        clash = sorted(set(spec) & {"data", "train_size", "validation_size", "test_size", "output_dir", "name"})
        if clash:
            raise ConfigError(f"{where}: {clash[0]!r} is set for the whole experiment, not per method")
        configs[str(name)] = parse_config({**shared, **spec}, where)
    reference = raw.get("reference")
    if reference is not None and reference not in configs:
        raise ConfigError(f"{source}: reference {reference!r} is not a method{_suggest(str(reference), configs)}; "
                          f"methods: {', '.join(configs)}")
    data_seed = raw.get("data_seed", 42)
    if not isinstance(data_seed, int) or isinstance(data_seed, bool):
        raise ConfigError(f"{source}: 'data_seed' must be an integer, got {data_seed!r}")
    return Experiment(
        name=str(raw.get("name") or Path(source).stem), data=raw["data"], methods=configs, seeds=list(seeds),
        output_dir=str(raw.get("output_dir") or f"runs/{Path(source).stem}"), reference=reference or next(iter(configs)),
        train_size=raw.get("train_size"), validation_size=raw.get("validation_size"), test_size=raw.get("test_size"),
        data_seed=data_seed,
    )


def load_experiment(path: str | Path) -> Experiment:
    return parse_experiment(read_yaml(path, "experiment"), str(path))


def _spec(config: RunConfig, experiment: Experiment) -> dict:
    """What a run folder was made with: reused only when this is unchanged."""
    record = {k: v for k, v in vars(config).items() if k not in ("output_dir", "name")}
    return json.loads(json.dumps({**record, "data_seed": experiment.data_seed}, default=str))


def _finished(run_dir: Path, spec: dict) -> bool:
    spec_path = run_dir / SPEC_FILE
    if not spec_path.is_file():
        if run_dir.exists() and any(run_dir.iterdir()):
            raise ExperimentError(f"{run_dir} exists but was not written by this experiment runner; "
                               "move it away or choose another output_dir")
        return False
    if json.loads(spec_path.read_text()) != spec:
        raise ExperimentError(f"{run_dir} was made with other settings than the experiment now asks for; "
                           "delete it to rerun it, or choose another output_dir")
    return (run_dir / "metrics.json").is_file()


def run_experiment(experiment: Experiment) -> dict:
    """Train and evaluate every (method, seed) not finished yet; write the table and the report."""
    from causalclf.data import load_dataset
    from causalclf.evaluation import load_run, write_report
    from causalclf.pipeline import fit_and_evaluate

    ds = load_dataset(experiment.data)
    sizes = {"train": experiment.train_size, "validation": experiment.validation_size, "test": experiment.test_size}
    splits = {name: part.sample(sizes[name], seed=experiment.data_seed) if sizes.get(name) else part
              for name, part in ds.items()}
    if "test" not in splits:
        raise ValueError(f"{experiment.name}: the dataset has no test split to compare the methods on")
    print(ds.summary())
    print("experiment slices: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))

    runs = experiment.runs()
    for i, (method, seed, config) in enumerate(runs, 1):
        run_dir = Path(config.output_dir)
        spec = _spec(config, experiment)
        what = f"[{i}/{len(runs)}] {config.name}"
        if _finished(run_dir, spec):
            print(f"{what}: finished earlier, kept ({run_dir})")
            continue
        print(f"\n{what}")
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / SPEC_FILE).write_text(json.dumps(spec, indent=2))
        fit_and_evaluate(config, splits)

    loaded = {(method, seed): load_run(config.output_dir) for method, seed, config in runs}
    rows = [_result_row(method, seed, run) for (method, seed), run in loaded.items()]
    out = Path(experiment.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    table = comparison_table(rows, experiment.reference)
    (out / "table.md").write_text(f"# {experiment.name}\n\n{table}\n", encoding="utf-8")
    report = write_report([run.path for run in loaded.values()], out / "report", title=experiment.name)
    print(f"\n{table}\n\nwrote {out / 'results.csv'}, {out / 'table.md'} and {report['html']}")
    return {"rows": rows, "table": table, "report": report}


def _result_row(method: str, seed: int | None, run) -> dict:
    info = run.info
    return {"method": method, "seed": seed, "accuracy": run.metrics.get("accuracy"),
            "micro_f1": run.metrics.get("micro_f1"), "macro_f1": run.metrics.get("macro_f1"),
            "ece": run.metrics.get("ece"), "trainable_parameters": info.get("trainable_parameters"),
            "train_seconds": info.get("train_seconds"), "docs_per_second": info.get("docs_per_second"),
            # a seed that collapsed was retrained with another one (see `train_with_restarts`)
            "attempts": len(info.get("training", {}).get("attempts") or []) or None,
            "collapsed": info.get("training", {}).get("collapsed")}


def comparison_table(rows: list[dict], reference: str) -> str:
    """Markdown: a line per method, mean ± std over seeds, and the seed-paired Δ macro-F1 to `reference`.

    A deterministic method (one run) is paired with every seed of the reference.
    """
    from causalclf.evaluation.seeds import compare_over_seeds, summarize_seeds

    by_method: dict[str, list[dict]] = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(row)

    def per_seed(method: str, seeds: list) -> dict:
        runs = by_method[method]
        if runs[0]["seed"] is None:  # deterministic: the same score for every seed
            return {s: runs[0]["macro_f1"] for s in seeds}
        return {r["seed"]: r["macro_f1"] for r in runs}

    def mean(values: list) -> str:
        values = [v for v in values if v is not None]
        return f"{sum(values) / len(values):.1f}" if values else "–"

    lines = [f"| method | seeds | macro-F1 | micro-F1 | accuracy | ECE | trainable params | train s | docs/s "
             f"| Δ macro-F1 vs {reference} |", "|" + "---|" * 10]
    for method, runs in by_method.items():
        def cell(metric: str) -> str:
            values = [r[metric] for r in runs]
            if any(v is None for v in values):
                return "–"
            return str(summarize_seeds(values)).replace(f" (n={len(values)})", "")

        if method == reference:
            delta = "(reference)"
        else:
            # Paired over the seeded side's seeds; a deterministic side pairs with each of them.
            seeds = [r["seed"] for r in by_method[method] + by_method[reference] if r["seed"] is not None] or [None]
            paired = compare_over_seeds(per_seed(method, seeds), per_seed(reference, seeds))
            delta = f"{paired.mean:+.4f}" + ("" if paired.std is None else f" ± {paired.std:.4f}")
            delta += f" (n={paired.n})"
        params = runs[0]["trainable_parameters"]
        seeds_cell = ", ".join("–" if r["seed"] is None else str(r["seed"]) for r in runs)
        lines.append(
            f"| {method} | {seeds_cell} | {cell('macro_f1')} | {cell('micro_f1')} | {cell('accuracy')} | {cell('ece')} "
            f"| {'–' if params is None else f'{params:,}'} | {mean([r['train_seconds'] for r in runs])} "
            f"| {mean([r['docs_per_second'] for r in runs])} | {delta} |"
        )
    return "\n".join(lines)


