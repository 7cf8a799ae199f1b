"""A YAML experiment: one dataset x several methods x several seeds -> one comparison table.

    name: bbc-news, head vs baselines
    data: bbc-news                 # as in a run config
    train_size: 400                # optional stratified slices, drawn once for every run
    validation_size: 100
    seeds: [1, 2, 3]
    output_dir: runs/experiments/bbc
    reference: embedding-head      # what every other method is compared with (default: the first)
    train_sizes: [100, 300, all]   # optional learning curve: every method at every size
    methods:                       # name -> a run config's method keys
      embedding-head: {method: embedding_head, model: smollm2-135m, lora: {r: 8}, max_length: 64}
      tfidf: {method: tfidf}

Every (method, seed) trains through `fit_and_evaluate`, the same code as `causalclf train`,
on the same slices, so all runs score the very same test items and pair by seed. A seed
goes to ``training.seed`` (or a method's own ``seed``); a method with neither (TF-IDF) is
deterministic and runs once. A finished run is not run again, and an interrupted one continues
from its checkpoints, so rerunning after an interruption resumes; a run folder made with
other settings is an error, never reused. Under ``accelerate launch`` or ``torchrun`` every
process trains every run and the main process writes.

With `train_sizes`, the slices are nested (each smaller one is a stratified sample of the
next larger one, drawn with `data_seed`), so a method sees the same items at each size as
every other method, and only adds items as the size grows.

Outputs in `output_dir`: ``runs/<method>/[n-<size>/]seed-<s>/`` (model and test
predictions), ``results.csv`` (a row per run), ``table.md`` (mean ± std over seeds, the
seed-paired delta to the reference, and item-level paired significance of every method
against the reference: McNemar and a bootstrap CI of Δ macro-F1, Holm-adjusted over the
comparisons at each size), ``significance.csv``, ``learning_curves.png`` (macro-F1 against
training documents and against training seconds) and ``report/`` (`write_report` per size).
"""
from __future__ import annotations

import csv
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from causalclf.config import ConfigError, RunConfig, check_fields, parse_config, positive, read_yaml, suggest
from causalclf.errors import UserError

SPEC_FILE = "experiment-run.json"


class ExperimentError(UserError, RuntimeError):
    """The output folder holds runs that this experiment did not make, or made differently."""


ALL = "all"
"""A `train_sizes` entry meaning the whole training slice."""
RESULT_COLUMNS = ("method", "train_size", "seed", "n_train", "accuracy", "micro_f1", "macro_f1", "ece",
                  "trainable_parameters", "train_seconds", "docs_per_second", "peak_memory_mib", "attempts",
                  "collapsed")
SIGNIFICANCE_COLUMNS = ("train_size", "method", "seed", "reference_seed", "delta_macro_f1", "ci_low", "ci_high",
                        "bootstrap_p_holm", "delta_micro_f1", "micro_ci_low", "micro_ci_high", "micro_bootstrap_p_holm",
                        "mcnemar_n01", "mcnemar_n10", "mcnemar_p_holm")


@dataclass(frozen=True)
class PlannedRun:
    """One (method, training size, seed) of an experiment and the run config that trains it."""

    method: str
    size: int | str | None
    """A `train_sizes` entry; None when the experiment has no learning curve."""
    seed: int | None
    """None for a deterministic method (run once)."""
    config: RunConfig


def _distinct(value, where) -> None:
    if not value or len({str(v) for v in value}) != len(value):
        raise ConfigError(f"{where}: {value!r} must be a non-empty list of distinct values")


@dataclass
class Experiment:
    """One dataset, several methods, several seeds (and training sizes): one comparison."""

    data: Any = field(metadata={"help": "The dataset, as in a run config: a named dataset, a path or a data mapping."})
    methods: dict[str, dict] = field(metadata={
        "help": "A name for each method mapped to a run config's method keys (method: ..., its parameters); a "
                "method may also take `seeds` and `train_sizes`, subsets of the experiment's, when it is too slow "
                "for all of them or learns nothing from more data."})
    name: str | None = field(default=None, metadata={
        "help": "Title of the table and the report (default: the file name)."})
    seeds: list[int] = field(default_factory=lambda: [42], metadata={
        "help": "Training seeds; a method without any (TF-IDF) runs once.", "check": _distinct})
    train_sizes: list[int | Literal["all"]] | None = field(default=None, metadata={
        "help": "A learning curve: every method at each training-set size, on nested stratified slices "
                "(all: the whole training slice).", "check": _distinct})
    train_size: int | None = field(default=None, metadata={
        "help": "One stratified slice of the training split, the same for every run.", "check": positive})
    validation_size: int | None = field(default=None, metadata={
        "help": "A stratified slice of the validation split.", "check": positive})
    test_size: int | None = field(default=None, metadata={
        "help": "A stratified slice of the test split.", "check": positive})
    data_seed: int = field(default=42, metadata={"help": "Seed of the slices."})
    output_dir: str | None = field(default=None, metadata={
        "help": "Folder for the runs, the tables and the report (default: runs/<file name>)."})
    reference: str | None = field(default=None, metadata={
        "help": "The method every other one is compared with (default: the first listed)."})
    configs: dict[str, RunConfig] = field(init=False, default_factory=dict)
    """Each method's run config (seed and output folder are set per run)."""
    method_seeds: dict[str, list[int]] = field(init=False, default_factory=dict)
    """Methods that run on only some of `seeds` (e.g. the slowest)."""
    method_sizes: dict[str, list[int | str]] = field(init=False, default_factory=dict)
    """Methods that run at only some of `train_sizes` (e.g. zero-shot, which learns nothing from them)."""

    def sizes(self) -> list[int | str | None]:
        return list(self.train_sizes) if self.train_sizes else [None]

    def runs(self) -> list[PlannedRun]:
        """Every run to train, seed by seed: the first seed of every method and size (and every
        deterministic method) before any second seed, so that an interrupted experiment has
        something to compare. Within a seed: methods in order, then sizes."""
        out = []
        for round_, seed in enumerate(self.seeds):
            for method, config in self.configs.items():
                if seeded(config):
                    if seed not in self.method_seeds.get(method, self.seeds):
                        continue
                elif round_ > 0:
                    continue
                for size in self.method_sizes.get(method, self.sizes()):
                    out.append(self._planned(method, config, size, seed if seeded(config) else None))
        return out

    def _planned(self, method: str, config: RunConfig, size, seed: int | None) -> PlannedRun:
        run = RunConfig(**{**vars(config), "params": with_seed(config, seed)})
        run.output_dir = str(self.run_dir(method, seed, size))
        run.name = " ".join([method, *([] if size is None else [f"n={size}"]), *([] if seed is None else [f"seed {seed}"])])
        return PlannedRun(method, size, seed, run)

    def run_dir(self, method: str, seed: int | None, size: int | str | None = None) -> Path:
        folder = Path(self.output_dir) / "runs" / method
        if size is not None:
            folder = folder / f"n-{size}"
        return folder / ("deterministic" if seed is None else f"seed-{seed}")

    def slices(self, ds) -> dict:
        """The splits each training size sees: ``{size: {split: TextDataset}}``, nested across sizes."""
        sizes = {"train": self.train_size, "validation": self.validation_size, "test": self.test_size}
        base = {name: part.sample(sizes[name], seed=self.data_seed) if sizes.get(name) else part
                for name, part in ds.items()}
        if "test" not in base:
            raise ExperimentError(f"{self.name}: the dataset has no test split to compare the methods on")
        out, train = {}, base["train"]
        for size in sorted(self.sizes(), key=_size_order, reverse=True):
            if size not in (None, ALL):
                train = train.sample(size, seed=self.data_seed)  # a stratified sample of the next larger slice
            out[size] = {**base, "train": train}
        return out


def _size_order(size) -> float:
    return float("inf") if size in (None, ALL) else size


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
        from causalclf.config import TrainingConfig

        training = params.get("training")
        base = vars(training).copy() if isinstance(training, TrainingConfig) else dict(training or {})
        params["training"] = {**base, "seed": seed}
    else:
        params["seed"] = seed
    return params


def parse_experiment(raw: Any, source: str = "experiment") -> Experiment:
    """Validate a loaded YAML mapping (every method's parameters included) before anything trains."""
    check_fields(Experiment, raw, source)
    experiment = Experiment(**raw)
    if not experiment.methods:
        raise ConfigError(f"{source}: 'methods' must be a non-empty mapping of name -> method keys")
    if experiment.train_sizes is not None and experiment.train_size is not None:
        raise ConfigError(f"{source}: give 'train_sizes' (a learning curve) or 'train_size' (one slice), not both")
    shared = {k: raw[k] for k in ("data", "train_size", "validation_size", "test_size") if k in raw}
    for name, spec in experiment.methods.items():
        where = f"{source} methods.{name}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: must be a mapping with a 'method' key, not {type(spec).__name__}")
        clash = sorted(set(spec) & {"data", "train_size", "validation_size", "test_size", "output_dir", "name"})
        if clash:
            raise ConfigError(f"{where}: {clash[0]!r} is set for the whole experiment, not per method")
        spec = dict(spec)
        for key, allowed, store in (("seeds", experiment.seeds, experiment.method_seeds),
                                    ("train_sizes", experiment.train_sizes, experiment.method_sizes)):
            if key in spec:
                subset = spec.pop(key)
                if (allowed is None or not isinstance(subset, list) or not subset
                        or not set(map(str, subset)) <= set(map(str, allowed))):
                    raise ConfigError(f"{where}: {key!r} must be a non-empty subset of the experiment's {key} "
                                      f"{allowed!r}, got {subset!r}")
                store[str(name)] = subset
        experiment.configs[str(name)] = parse_config({**shared, **spec}, where)
    if experiment.reference is not None and experiment.reference not in experiment.configs:
        raise ConfigError(f"{source}: reference {experiment.reference!r} is not a method"
                          f"{suggest(str(experiment.reference), experiment.configs)}; methods: "
                          f"{', '.join(experiment.configs)}")
    experiment.name = str(experiment.name or Path(source).stem)
    experiment.output_dir = str(experiment.output_dir or f"runs/{Path(source).stem}")
    experiment.reference = experiment.reference or next(iter(experiment.configs))
    return experiment


def restrict(experiment: Experiment, methods: list[str] | None = None, sizes: list[str] | None = None) -> Experiment:
    """Plan only `methods` (the reference among them) at only `sizes`. The slices are drawn as for the
    whole experiment and the run folders and specs are the same, so its other runs stay reusable."""
    if methods:
        unknown = [m for m in methods if m not in experiment.configs]
        if unknown:
            raise ConfigError(f"{experiment.name}: no method {unknown[0]!r}{suggest(unknown[0], experiment.configs)}; "
                              f"methods: {', '.join(experiment.configs)}")
        if experiment.reference not in methods:
            raise ConfigError(f"{experiment.name}: keep the reference {experiment.reference!r} among the methods, "
                              "so the others are compared with it")
        experiment.configs = {m: c for m, c in experiment.configs.items() if m in methods}
    if sizes:
        planned = {str(size): size for size in experiment.sizes()}
        if experiment.train_sizes is None or not set(sizes) <= set(planned):
            raise ConfigError(f"{experiment.name}: training sizes must be among the experiment's train_sizes "
                              f"{experiment.train_sizes!r}, got {sizes!r}")
        for method in experiment.configs:
            kept = [planned[s] for s in map(str, experiment.method_sizes.get(method, experiment.sizes())) if s in sizes]
            experiment.method_sizes[method] = kept
    return experiment


def load_experiment(path: str | Path) -> Experiment:
    return parse_experiment(read_yaml(path, "experiment"), str(path))


def _spec(run: PlannedRun, experiment: Experiment) -> dict:
    """What a run folder was made with: reused only when this is unchanged."""
    record = {k: v for k, v in vars(run.config).items() if k not in ("output_dir", "name")}
    extra = {} if run.size is None else {"train_slice": run.size}
    return json.loads(json.dumps({**record, "data_seed": experiment.data_seed, **extra}, default=str))


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


def run_experiment(experiment: Experiment, train: bool = True) -> dict:
    """Train and evaluate every planned run not finished yet; write the tables, plots and reports.

    With `train` false nothing trains: the tables and reports cover the runs finished so far,
    and say which planned runs are missing (to read an experiment that is still running).
    """
    from causalclf.data import load_dataset
    from causalclf.evaluation import load_run
    from causalclf.pipeline import fit_and_evaluate
    from causalclf.training import is_main_process, wait_for_everyone

    ds = load_dataset(experiment.data)
    slices = experiment.slices(ds)
    print(ds.summary())
    for size, splits in slices.items():
        print(("experiment slices" if size is None else f"slices at n={size}") + ": "
              + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))

    runs = experiment.runs()
    # Under several processes all must train the same runs: each decides before the main process writes.
    left = [not _finished(Path(run.config.output_dir), _spec(run, experiment)) for run in runs]
    wait_for_everyone()
    missing = [run for run, to_train in zip(runs, left) if to_train] if not train else []
    if missing:
        print(f"not trained (--report-only): {len(missing)} of {len(runs)} planned runs: "
              + ", ".join(run.config.name for run in missing))
        runs = [run for run, to_train in zip(runs, left) if not to_train]
        left = [False] * len(runs)
        if not runs:
            raise ExperimentError(f"{experiment.name}: no run has finished yet; nothing to report")
    for i, (run, to_train) in enumerate(zip(runs, left), 1):
        run_dir = Path(run.config.output_dir)
        what = f"[{i}/{len(runs)}] {run.config.name}"
        if not to_train:
            print(f"{what}: finished earlier, kept ({run_dir})")
            continue
        print(f"\n{what}")
        if is_main_process():
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / SPEC_FILE).write_text(json.dumps(_spec(run, experiment), indent=2))
        # An interrupted run continues from its checkpoints: the spec check above vouches for the same settings.
        fit_and_evaluate(run.config, slices[run.size], resume=True)
    if not is_main_process():
        return {}

    order = {m: i for i, m in enumerate(experiment.configs)}
    position = {size: i for i, size in enumerate(experiment.sizes())}
    runs = sorted(runs, key=lambda r: (order[r.method], position[r.size], -1 if r.seed is None else r.seed))
    loaded = [(run, load_run(run.config.output_dir)) for run in runs]
    rows = [_result_row(run, result) for run, result in loaded]
    out = Path(experiment.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "results.csv", RESULT_COLUMNS, rows)
    significance = paired_significance(loaded, experiment.reference)
    _write_csv(out / "significance.csv", SIGNIFICANCE_COLUMNS, significance)
    sections = [] if not missing else [
        f"Partial: {len(runs)} of {len(runs) + len(missing)} planned runs finished; not yet run: "
        + ", ".join(run.config.name for run in missing) + ".", ""]
    for size in experiment.sizes():
        at_size = [r for r in rows if r["train_size"] == size]
        if not at_size:
            continue
        heading = [] if size is None else [f"## Training size {size} ({at_size[0]['n_train']} documents)", ""]
        sections += heading + [comparison_table(at_size, experiment.reference), "",
                               significance_table([s for s in significance if s["train_size"] == size],
                                                  experiment.reference), ""]
    table = "\n".join(sections)
    curves = None
    if experiment.train_sizes:
        curves = out / "learning_curves.png"
        curves.write_bytes(learning_curves_png(rows, experiment.name))
        table = learning_curve_table(rows) + f"\n\n![learning curves]({curves.name})\n\n" + table
    (out / "table.md").write_text(f"# {experiment.name}\n\n{ds.report.summary()}\n\n{table}\n", encoding="utf-8")
    report = _write_reports(experiment, loaded, out / "report", curves, ds.report.summary())
    print(f"\n{table}\n\nwrote {out / 'results.csv'}, {out / 'table.md'} and {report['html']}")
    return {"rows": rows, "table": table, "significance": significance, "report": report}


def _write_csv(path: Path, columns, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _write_reports(experiment: Experiment, loaded: list, folder: Path, curves: Path | None, data: str) -> dict:
    """One `write_report` per training size (item-level significance among its runs), each saying
    where the data came from and how it was split (`data`: the load report)."""
    from causalclf.evaluation import write_report
    from causalclf.evaluation.document import Heading, Image, Paragraph

    reports = {}
    for size in experiment.sizes():
        paths = [result.path for run, result in loaded if run.size == size]
        if not paths:
            continue
        preface = [Paragraph(f"Data: {data}.")]
        if curves is not None and size == experiment.sizes()[-1]:
            preface += [Heading("Learning curves"), Image(f"figures/{curves.name}", curves.read_bytes(),
                                                          "Macro-F1 against training documents and seconds")]
        title = experiment.name if size is None else f"{experiment.name}: n={size}"
        reports[size] = write_report(paths, folder if size is None else folder / f"n-{size}", title=title,
                                     preface=preface)
    return reports[max(reports, key=experiment.sizes().index)]


def _result_row(run: PlannedRun, result) -> dict:
    info = result.info
    return {"method": run.method, "train_size": run.size, "seed": run.seed, "n_train": info.get("n_train"),
            "accuracy": result.metrics.get("accuracy"), "micro_f1": result.metrics.get("micro_f1"),
            "macro_f1": result.metrics.get("macro_f1"), "ece": result.metrics.get("ece"),
            "trainable_parameters": info.get("trainable_parameters"), "train_seconds": info.get("train_seconds"),
            "docs_per_second": info.get("docs_per_second"), "peak_memory_mib": info.get("peak_memory_mib"),
            # a seed that collapsed was retrained with another one (see `train_with_restarts`)
            "attempts": len(info.get("training", {}).get("attempts") or []) or None,
            "collapsed": info.get("training", {}).get("collapsed")}


def paired_significance(loaded: list, reference: str, n_resamples: int = 1000) -> list[dict]:
    """Every other method's run against the reference's run of the same size and seed, item by item.

    McNemar on per-item correctness and a paired bootstrap of Δ macro-F1 and Δ micro-F1 (method −
    reference; micro-F1 is the usual multi-label figure); every p-value Holm-adjusted over all the
    comparisons made at one training size. A
    deterministic run pairs with every seed of the other side.
    """
    from causalclf.evaluation import holm, mcnemar, paired_bootstrap

    rows = []
    for size in dict.fromkeys(run.size for run, _ in loaded):
        at_size = [(run, result) for run, result in loaded if run.size == size]
        refs = {run.seed: result for run, result in at_size if run.method == reference}
        tests = []
        for run, result in at_size:
            if run.method == reference:
                continue
            for ref_seed, ref in refs.items():
                if run.seed is not None and ref_seed is not None and ref_seed != run.seed:
                    continue
                boot = paired_bootstrap(ref.y_true, result.y_pred, ref.y_pred, ref.label_space, n_resamples, seed=0)
                test = mcnemar(ref.y_true, result.y_pred, ref.y_pred, ref.label_space)
                tests.append((run, ref_seed, boot, test))
        boot_p = holm([b.macro_f1.p_value for _, _, b, _ in tests])
        micro_p = holm([b.micro_f1.p_value for _, _, b, _ in tests])
        mc_p = holm([m.p_value for _, _, _, m in tests])
        for (run, ref_seed, boot, test), bp, up, mp in zip(tests, boot_p, micro_p, mc_p):
            macro, micro = boot.macro_f1, boot.micro_f1
            rows.append({"train_size": size, "method": run.method, "seed": run.seed, "reference_seed": ref_seed,
                         "delta_macro_f1": macro.estimate, "ci_low": macro.ci_low, "ci_high": macro.ci_high,
                         "bootstrap_p_holm": float(bp), "delta_micro_f1": micro.estimate,
                         "micro_ci_low": micro.ci_low, "micro_ci_high": micro.ci_high,
                         "micro_bootstrap_p_holm": float(up), "mcnemar_n01": test.n01, "mcnemar_n10": test.n10,
                         "mcnemar_p_holm": float(mp)})
    return rows


def significance_table(rows: list[dict], reference: str) -> str:
    """Markdown of `paired_significance` rows (n01: the method wrong where the reference is right)."""
    from causalclf.evaluation.significance import format_p

    if not rows:
        return ""
    lines = [f"Paired significance against {reference} on the same test items (Holm-adjusted over "
             f"{len(rows)} comparison(s)):", "",
             "| method | seed | Δ macro-F1 [95% CI] | bootstrap p | Δ micro-F1 [95% CI] | bootstrap p "
             "| McNemar n01 / n10 | McNemar p |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        seed = "–" if r["seed"] is None and r["reference_seed"] is None else (
            r["seed"] if r["seed"] is not None else f"– vs {r['reference_seed']}")
        lines.append(f"| {r['method']} | {seed} | {r['delta_macro_f1']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] "
                     f"| {format_p(r['bootstrap_p_holm'])} | {r['delta_micro_f1']:+.4f} "
                     f"[{r['micro_ci_low']:+.4f}, {r['micro_ci_high']:+.4f}] | {format_p(r['micro_bootstrap_p_holm'])} "
                     f"| {r['mcnemar_n01']} / {r['mcnemar_n10']} "
                     f"| {format_p(r['mcnemar_p_holm'])} |")
    return "\n".join(lines)


def learning_curve_table(rows: list[dict]) -> str:
    """Markdown: macro-F1 (mean ± std over seeds) of every method at every training size."""
    from causalclf.evaluation.seeds import summarize_seeds

    sizes = list(dict.fromkeys(r["train_size"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    n_train = {size: next(r["n_train"] for r in rows if r["train_size"] == size) for size in sizes}
    lines = ["| method | " + " | ".join(f"n={n_train[s]}" for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for method in methods:
        cells = []
        for size in sizes:
            values = [r["macro_f1"] for r in rows if r["method"] == method and r["train_size"] == size]
            cells.append(str(summarize_seeds(values)).replace(f" (n={len(values)})", "") if values else "–")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "Macro-F1 by training size (mean ± std over seeds):\n\n" + "\n".join(lines)


def learning_curves_png(rows: list[dict], title: str) -> bytes:
    from causalclf.evaluation.plots import learning_curves_png as draw

    curves: dict[str, list[tuple[float, float, float, float]]] = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        points = []
        for size in dict.fromkeys(r["train_size"] for r in rows):
            runs = [r for r in rows if r["method"] == method and r["train_size"] == size]
            if runs:
                f1 = [r["macro_f1"] for r in runs]
                points.append((float(runs[0]["n_train"]), sum(r["train_seconds"] for r in runs) / len(runs),
                               sum(f1) / len(f1), float(np.std(f1, ddof=1)) if len(f1) > 1 else 0.0))
        curves[method] = points
    return draw(curves, title)


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
             f"| peak MiB | Δ macro-F1 vs {reference} |", "|" + "---|" * 11]
    for method, runs in by_method.items():
        def cell(metric: str) -> str:
            values = [r[metric] for r in runs]
            if any(v is None for v in values):
                return "–"
            return str(summarize_seeds(values)).replace(f" (n={len(values)})", "")

        delta = "(reference)" if method == reference else "–"
        if method != reference and reference in by_method:
            # Paired over the seeded side's seeds; a deterministic side pairs with each of them.
            seeds = [r["seed"] for r in by_method[method] + by_method[reference] if r["seed"] is not None] or [None]
            ours, theirs = per_seed(method, seeds), per_seed(reference, seeds)
            if set(ours) & set(theirs):  # none in common while an experiment is still running
                paired = compare_over_seeds(ours, theirs)
                delta = f"{paired.mean:+.4f}" + ("" if paired.std is None else f" ± {paired.std:.4f}")
                delta += f" (n={paired.n})"
        params = runs[0]["trainable_parameters"]
        seeds_cell = ", ".join("–" if r["seed"] is None else str(r["seed"]) for r in runs)
        lines.append(
            f"| {method} | {seeds_cell} | {cell('macro_f1')} | {cell('micro_f1')} | {cell('accuracy')} | {cell('ece')} "
            f"| {'–' if params is None else f'{params:,}'} | {mean([r['train_seconds'] for r in runs])} "
            f"| {mean([r['docs_per_second'] for r in runs])} | {mean([r['peak_memory_mib'] for r in runs])} | {delta} |"
        )
    return "\n".join(lines)


