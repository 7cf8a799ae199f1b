"""`run_experiment`: train every planned run of an experiment not finished yet, then write its tables,
plots and reports (computed and rendered by `evaluation.comparison` and `evaluation.report`).

Every (method, seed) trains through `fit_and_evaluate`, the same code as `causalclf train`,
on the same slices, so all runs score the very same test items and pair by seed. A finished run is
not run again, and an interrupted one continues from its checkpoints, so rerunning after an
interruption resumes; a run folder made with other settings is an error, never reused. Under
``accelerate launch`` or ``torchrun`` every process trains every run and the main process writes.

Outputs in `output_dir`: ``runs/<method>/[n-<size>/]seed-<s>/`` (model and test
predictions), ``results.csv`` (a row per run), ``table.md`` (mean ± std over seeds, the
seed-paired delta to the reference, and item-level paired significance of every method
against the reference: McNemar and a bootstrap CI of Δ macro-F1, Holm-adjusted over the
comparisons at each size), ``significance.csv``, ``learning_curves.png`` (macro-F1 against
training documents and against training seconds) and ``report/`` (`write_report` per size).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from causalclf import processes
from causalclf.data.loaders import load_dataset
from causalclf.evaluation.comparison import (
    LEARNING_CURVE_CAPTION,
    Compared,
    comparison_table,
    learning_curve_table,
    learning_curves_png,
    paired_significance,
    significance_caption,
    significance_table,
)
from causalclf.evaluation.document import Heading, Image, Paragraph, markdown_table
from causalclf.evaluation.report import write_report
from causalclf.evaluation.runs import load_run
from causalclf.experiments.spec import Experiment, ExperimentError, PlannedRun
from causalclf.pipeline import fit_and_evaluate

SPEC_FILE = "experiment-run.json"
RESULT_COLUMNS = (
    "method",
    "train_size",
    "seed",
    "n_train",
    "accuracy",
    "micro_f1",
    "macro_f1",
    "ece",
    "trainable_parameters",
    "train_seconds",
    "docs_per_second",
    "peak_memory_mib",
    "attempts",
    "collapsed",
)
SIGNIFICANCE_COLUMNS = (
    "train_size",
    "method",
    "seed",
    "reference_seed",
    "delta_macro_f1",
    "ci_low",
    "ci_high",
    "bootstrap_p_holm",
    "delta_micro_f1",
    "micro_ci_low",
    "micro_ci_high",
    "micro_bootstrap_p_holm",
    "mcnemar_n01",
    "mcnemar_n10",
    "mcnemar_p_holm",
)


def _spec(run: PlannedRun, experiment: Experiment) -> dict:
    """What a run folder was made with: reused only when this is unchanged."""
    record = {k: v for k, v in vars(run.config).items() if k not in ("output_dir", "name")}
    extra = {} if run.size is None else {"train_slice": run.size}
    return json.loads(json.dumps({**record, "data_seed": experiment.data_seed, **extra}, default=str))


def _finished(run_dir: Path, spec: dict) -> bool:
    spec_path = run_dir / SPEC_FILE
    if not spec_path.is_file():
        if run_dir.exists() and any(run_dir.iterdir()):
            raise ExperimentError(
                f"{run_dir} exists but was not written by this experiment runner; "
                "move it away or choose another output_dir"
            )
        return False
    if json.loads(spec_path.read_text()) != spec:
        raise ExperimentError(
            f"{run_dir} was made with other settings than the experiment now asks for; "
            "delete it to rerun it, or choose another output_dir"
        )
    return (run_dir / "metrics.json").is_file()


def run_experiment(experiment: Experiment, train: bool = True) -> dict:
    """Train and evaluate every planned run not finished yet; write the tables, plots and reports.

    With `train` false nothing trains: the tables and reports cover the runs finished so far,
    and say which planned runs are missing (to read an experiment that is still running).
    """
    layout = processes.current()
    ds = load_dataset(experiment.data)
    slices = experiment.slices(ds)
    print(ds.summary())
    for size, splits in slices.items():
        print(
            ("experiment slices" if size is None else f"slices at n={size}")
            + ": "
            + ", ".join(f"{k} {len(v)}" for k, v in splits.items())
        )

    runs = experiment.runs()
    # Under several processes all must train the same runs: each decides before the main process writes.
    left = [not _finished(Path(run.config.output_dir), _spec(run, experiment)) for run in runs]
    layout.wait()
    missing = [run for run, to_train in zip(runs, left) if to_train] if not train else []
    if missing:
        print(
            f"not trained (--report-only): {len(missing)} of {len(runs)} planned runs: "
            + ", ".join(run.config.name for run in missing)
        )
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
        if layout.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / SPEC_FILE).write_text(json.dumps(_spec(run, experiment), indent=2))
        # An interrupted run continues from its checkpoints: the spec check above vouches for the same settings.
        fit_and_evaluate(run.config, slices[run.size], resume=True)
    if not layout.is_main:
        return {}

    order = {m: i for i, m in enumerate(experiment.configs)}
    position = {size: i for i, size in enumerate(experiment.sizes())}
    runs = sorted(runs, key=lambda r: (order[r.method], position[r.size], -1 if r.seed is None else r.seed))
    loaded = [Compared(run.method, run.size, run.seed, load_run(run.config.output_dir)) for run in runs]
    rows = [_result_row(run) for run in loaded]
    out = Path(experiment.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "results.csv", RESULT_COLUMNS, rows)
    significance = paired_significance(loaded, experiment.reference)
    _write_csv(out / "significance.csv", SIGNIFICANCE_COLUMNS, significance)
    sections = (
        []
        if not missing
        else [
            f"Partial: {len(runs)} of {len(runs) + len(missing)} planned runs finished; not yet run: "
            + ", ".join(run.config.name for run in missing)
            + ".",
            "",
        ]
    )
    for size in experiment.sizes():
        at_size = [r for r in rows if r["train_size"] == size]
        if not at_size:
            continue
        heading = [] if size is None else [f"## Training size {size} ({at_size[0]['n_train']} documents)", ""]
        compared = [s for s in significance if s["train_size"] == size]
        sections += heading + [
            markdown_table(comparison_table(at_size, experiment.reference)),
            "",
            (
                f"{significance_caption(compared, experiment.reference)}\n\n"
                f"{markdown_table(significance_table(compared))}"
            )
            if compared
            else "",
            "",
        ]
    table = "\n".join(sections)
    curves = None
    if experiment.train_sizes:
        curves = out / "learning_curves.png"
        curves.write_bytes(learning_curves_png(rows, experiment.name))
        table = (
            f"{LEARNING_CURVE_CAPTION}\n\n{markdown_table(learning_curve_table(rows))}"
            f"\n\n![learning curves]({curves.name})\n\n{table}"
        )
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
    reports = {}
    for size in experiment.sizes():
        paths = [run.result.path for run in loaded if run.size == size]
        if not paths:
            continue
        preface = [Paragraph(f"Data: {data}.")]
        if curves is not None and size == experiment.sizes()[-1]:
            preface += [
                Heading("Learning curves"),
                Image(f"figures/{curves.name}", curves.read_bytes(), "Macro-F1 against training documents and seconds"),
            ]
        title = experiment.name if size is None else f"{experiment.name}: n={size}"
        reports[size] = write_report(
            paths, folder if size is None else folder / f"n-{size}", title=title, preface=preface
        )
    return reports[max(reports, key=experiment.sizes().index)]


def _result_row(run: Compared) -> dict:
    result, info = run.result, run.result.info
    return {
        "method": run.method,
        "train_size": run.size,
        "seed": run.seed,
        "n_train": info.get("n_train"),
        "accuracy": result.metrics.get("accuracy"),
        "micro_f1": result.metrics.get("micro_f1"),
        "macro_f1": result.metrics.get("macro_f1"),
        "ece": result.metrics.get("ece"),
        "trainable_parameters": info.get("trainable_parameters"),
        "train_seconds": info.get("train_seconds"),
        "docs_per_second": info.get("docs_per_second"),
        "peak_memory_mib": info.get("peak_memory_mib"),
        # a seed that collapsed was retrained with another one (see `train_with_restarts`)
        "attempts": len(info.get("training", {}).get("attempts") or []) or None,
        "collapsed": info.get("training", {}).get("collapsed"),
    }
