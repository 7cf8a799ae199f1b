"""Several methods' runs on the same test items, compared: the tables and figure of an experiment.

A run is scored once (`runs.Run`); an experiment hands this module its runs as `Compared`
(which method, at which training size, with which seed) and its results as rows (one dict per run,
`experiments.runner.RESULT_COLUMNS`). From them come the paired significance of every method against a
reference (`paired_significance`, through `significance.paired_tests`), the comparison table (mean ± std
over seeds, the seed-paired Δ to the reference), the learning-curve table and plot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from causalclf.evaluation.document import Table
from causalclf.evaluation.plots import learning_curves_png as draw_learning_curves
from causalclf.evaluation.runs import Run
from causalclf.evaluation.seeds import compare_over_seeds, summarize_seeds
from causalclf.evaluation.significance import format_p, paired_tests


@dataclass(frozen=True)
class Compared:
    """One run of a comparison: its method, training size (None without a learning curve) and seed (None for a
    deterministic method), and what it scored."""

    method: str
    size: Any
    seed: int | None
    result: Run


def paired_significance(runs: list[Compared], reference: str, n_resamples: int = 1000) -> list[dict]:
    """Every other method's run against the reference's run of the same size and seed, item by item.

    McNemar on per-item correctness and a paired bootstrap of Δ macro-F1 and Δ micro-F1 (method −
    reference; micro-F1 is the usual multi-label figure); every p-value Holm-adjusted over all the
    comparisons made at one training size. A deterministic run pairs with every seed of the other side.
    """
    rows = []
    for size in dict.fromkeys(run.size for run in runs):
        at_size = [run for run in runs if run.size == size]
        refs = {run.seed: run.result for run in at_size if run.method == reference}
        pairs = [
            (run, ref_seed, ref)
            for run in at_size
            if run.method != reference
            for ref_seed, ref in refs.items()
            if run.seed is None or ref_seed is None or ref_seed == run.seed
        ]
        if not pairs:
            continue
        tests = paired_tests(
            [(ref.y_true, run.result.y_pred, ref.y_pred) for run, _, ref in pairs],
            pairs[0][2].label_space,
            n_resamples,
            seed=0,
        )
        for (run, ref_seed, _), test in zip(pairs, tests):
            macro, micro = test.bootstrap.macro_f1, test.bootstrap.micro_f1
            rows.append(
                {
                    "train_size": size,
                    "method": run.method,
                    "seed": run.seed,
                    "reference_seed": ref_seed,
                    "delta_macro_f1": macro.estimate,
                    "ci_low": macro.ci_low,
                    "ci_high": macro.ci_high,
                    "bootstrap_p_holm": test.macro_f1_p_holm,
                    "delta_micro_f1": micro.estimate,
                    "micro_ci_low": micro.ci_low,
                    "micro_ci_high": micro.ci_high,
                    "micro_bootstrap_p_holm": test.micro_f1_p_holm,
                    "mcnemar_n01": test.mcnemar.n01,
                    "mcnemar_n10": test.mcnemar.n10,
                    "mcnemar_p_holm": test.mcnemar_p_holm,
                }
            )
    return rows


def significance_caption(rows: list[dict], reference: str) -> str:
    return (
        f"Paired significance against {reference} on the same test items (Holm-adjusted over "
        f"{len(rows)} comparison(s)):"
    )


def significance_table(rows: list[dict]) -> Table:
    """`paired_significance` rows (n01: the method wrong where the reference is right)."""
    body = []
    for r in rows:
        seed = (
            "–"
            if r["seed"] is None and r["reference_seed"] is None
            else (r["seed"] if r["seed"] is not None else f"– vs {r['reference_seed']}")
        )
        body.append(
            [
                r["method"],
                str(seed),
                f"{r['delta_macro_f1']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]",
                format_p(r["bootstrap_p_holm"]),
                f"{r['delta_micro_f1']:+.4f} [{r['micro_ci_low']:+.4f}, {r['micro_ci_high']:+.4f}]",
                format_p(r["micro_bootstrap_p_holm"]),
                f"{r['mcnemar_n01']} / {r['mcnemar_n10']}",
                format_p(r["mcnemar_p_holm"]),
            ]
        )
    return Table(
        [
            "method",
            "seed",
            "Δ macro-F1 [95% CI]",
            "bootstrap p",
            "Δ micro-F1 [95% CI]",
            "bootstrap p",
            "McNemar n01 / n10",
            "McNemar p",
        ],
        body,
    )


LEARNING_CURVE_CAPTION = "Macro-F1 by training size (mean ± std over seeds):"


def learning_curve_table(rows: list[dict]) -> Table:
    """Macro-F1 (mean ± std over seeds) of every method at every training size."""
    sizes = list(dict.fromkeys(r["train_size"] for r in rows))
    n_train = {size: next(r["n_train"] for r in rows if r["train_size"] == size) for size in sizes}
    body = []
    for method in dict.fromkeys(r["method"] for r in rows):
        cells = []
        for size in sizes:
            values = [r["macro_f1"] for r in rows if r["method"] == method and r["train_size"] == size]
            cells.append(_mean_std(values) if values else "–")
        body.append([method, *cells])
    return Table(["method", *(f"n={n_train[s]}" for s in sizes)], body)


def learning_curves_png(rows: list[dict], title: str) -> bytes:
    """Macro-F1 against training documents and against training seconds, a line per method."""
    curves: dict[str, list[tuple[float, float, float, float]]] = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        points = []
        for size in dict.fromkeys(r["train_size"] for r in rows):
            runs = [r for r in rows if r["method"] == method and r["train_size"] == size]
            if runs:
                f1 = [r["macro_f1"] for r in runs]
                points.append(
                    (
                        float(runs[0]["n_train"]),
                        sum(r["train_seconds"] for r in runs) / len(runs),
                        sum(f1) / len(f1),
                        float(np.std(f1, ddof=1)) if len(f1) > 1 else 0.0,
                    )
                )
        curves[method] = points
    return draw_learning_curves(curves, title)


def comparison_table(rows: list[dict], reference: str) -> Table:
    """A line per method: mean ± std over seeds, and the seed-paired Δ macro-F1 to `reference`.

    A deterministic method (one run) is paired with every seed of the reference.
    """
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

    body = []
    for method, runs in by_method.items():
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
        body.append(
            [
                method,
                ", ".join("–" if r["seed"] is None else str(r["seed"]) for r in runs),
                *(_metric_cell(runs, metric) for metric in ("macro_f1", "micro_f1", "accuracy", "ece")),
                "–" if params is None else f"{params:,}",
                mean([r["train_seconds"] for r in runs]),
                mean([r["docs_per_second"] for r in runs]),
                mean([r["peak_memory_mib"] for r in runs]),
                delta,
            ]
        )
    return Table(
        [
            "method",
            "seeds",
            "macro-F1",
            "micro-F1",
            "accuracy",
            "ECE",
            "trainable params",
            "train s",
            "docs/s",
            "peak MiB",
            f"Δ macro-F1 vs {reference}",
        ],
        body,
    )


def _metric_cell(runs: list[dict], metric: str) -> str:
    values = [r[metric] for r in runs]
    return "–" if any(v is None for v in values) else _mean_std(values)


def _mean_std(values: list) -> str:
    """``mean ± std`` over seeds, without the count `summarize_seeds` adds."""
    return str(summarize_seeds(values)).replace(f" (n={len(values)})", "")
