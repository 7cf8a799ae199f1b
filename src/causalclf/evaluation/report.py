"""`write_report`: compare saved runs in one Markdown and one self-contained HTML report.

The report answers "which approach, at what cost, with what confidence": a table of
every run, seed spread, quality against cost (trainable parameters, throughput),
paired significance between runs scored on the same test items, then per-run detail
(per-class scores, confusion matrix, reliability diagram).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from causalclf.evaluation import plots
from causalclf.evaluation.document import Block, Heading, Image, Paragraph, Table, render_html, render_markdown
from causalclf.evaluation.metrics import encode_truth
from causalclf.evaluation.runs import Run, load_run
from causalclf.evaluation.seeds import summarize_seeds
from causalclf.evaluation.significance import compare_pairwise, format_p

MISSING = "–"


def write_report(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path,
    title: str = "causalclf report",
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    preface: Sequence[Block] = (),
) -> dict[str, Path]:
    """Write ``report.md`` (+ ``figures/*.png``) and a self-contained ``report.html`` into ``out_dir``.

    ``n_resamples``, ``seed`` and ``confidence`` configure the paired bootstrap; `preface` blocks
    (e.g. an experiment's learning curves) come first.
    Returns the written paths under the keys "markdown", "html" and "figures" (the folder).
    """
    if not run_dirs:
        raise ValueError("write_report needs at least one run directory")
    runs = [load_run(d) for d in run_dirs]
    names = _unique_names(runs)
    blocks: list[Block] = [
        *preface,
        Paragraph(f"{len(runs)} run(s): " + ", ".join(names) + "."),
        *_overview(runs, names),
        *_seed_spread(runs),
        *_cost_plots(runs, names),
        *_significance(runs, names, n_resamples, seed, confidence),
        Heading("Runs"),
    ]
    for i, (run, name) in enumerate(zip(runs, names)):
        blocks += _run_detail(run, name, f"{i:02d}-{_slug(name)}")

    out_dir = Path(out_dir)
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for block in blocks:
        if isinstance(block, Image):
            (out_dir / block.filename).write_bytes(block.png)
    paths = {"markdown": out_dir / "report.md", "html": out_dir / "report.html", "figures": figures}
    paths["markdown"].write_text(render_markdown(title, blocks), encoding="utf-8")
    paths["html"].write_text(render_html(title, blocks), encoding="utf-8")
    return paths


def _overview(runs: list[Run], names: list[str]) -> list[Block]:
    headers = ["run", "method", "model", "dataset", "seed", "n", "accuracy", "micro F1", "macro F1", "ECE",
               "trainable params", "docs/s"]  # fmt: skip
    rows = [
        [
            name,
            _text(run.info.get("method")),
            _text(run.info.get("model")),
            _text(run.info.get("dataset")),
            _text(run.info.get("seed")),
            str(run.metrics["n"]),
            _num(run.metrics.get("accuracy")),
            _num(run.metrics.get("micro_f1")),
            _num(run.metrics.get("macro_f1")),
            _num(run.metrics.get("ece")),
            _count(run.info.get("trainable_parameters")),
            _num(run.info.get("docs_per_second"), ".1f"),
        ]
        for run, name in zip(runs, names)
    ]
    return [Heading("Comparison"), Table(headers, rows)]


def _seed_spread(runs: list[Run]) -> list[Block]:
    groups: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        if run.info.get("seed") is not None:
            groups[tuple(str(run.info.get(key, MISSING)) for key in ("method", "model", "dataset"))].append(run)
    rows = []
    for (method, model, dataset), members in groups.items():
        if len({str(r.info["seed"]) for r in members}) < 2:
            continue
        cells = [
            str(summarize_seeds({str(r.info["seed"]): r.metrics[metric] for r in members}))
            for metric in ("accuracy", "micro_f1", "macro_f1")
        ]
        rows.append([method, model, dataset, ", ".join(str(r.info["seed"]) for r in members), *cells])
    if not rows:
        return []
    return [
        Heading("Spread over seeds"),
        Paragraph("Mean ± sample standard deviation over the seeds of each method, model and dataset."),
        Table(["method", "model", "dataset", "seeds", "accuracy", "micro F1", "macro F1"], rows),
    ]


def _cost_plots(runs: list[Run], names: list[str]) -> list[Block]:
    blocks: list[Block] = []
    for key, label, stem in (
        ("trainable_parameters", "trainable parameters", "f1-vs-parameters"),
        ("docs_per_second", "documents per second (inference)", "f1-vs-throughput"),
    ):
        points = [
            (name, float(run.info[key]), float(run.metrics["macro_f1"]))
            for run, name in zip(runs, names)
            if isinstance(run.info.get(key), (int, float))
        ]
        if points:
            title = f"Macro F1 vs {label}"
            blocks.append(Image(f"figures/{stem}.png", plots.scatter_png(points, label, "macro F1", title), title))
    return [Heading("Quality against cost"), *blocks] if blocks else []


def _significance(runs: list[Run], names: list[str], n_resamples: int, seed: int, confidence: float) -> list[Block]:
    # Runs are comparable item by item only when they scored the very same test items.
    groups: dict[str, list[int]] = defaultdict(list)
    for i, run in enumerate(runs):
        groups[json.dumps([run.label_space.to_dict(), run.y_true])].append(i)
    blocks: list[Block] = [
        Heading("Paired significance"),
        Paragraph(
            f"Δ = A − B. Intervals: {confidence:.0%} paired bootstrap ({n_resamples} resamples of test items, "
            f"seed {seed}); its p-value is two-sided, from the share of resampled Δ on the far side of 0. "
            "McNemar: exact binomial below 25 discordant items, else χ² with continuity correction, on "
            "per-item correctness (exact match for multi-label); n01 = A wrong & B right, n10 = A right "
            "& B wrong. Every p-value is Holm-adjusted over the pairs of its test set."
        ),
    ]
    compared = False
    for members in groups.values():
        if len(members) < 2:
            continue
        compared = True
        first = runs[members[0]]
        comparisons = compare_pairwise(
            first.y_true,
            {names[i]: runs[i].y_pred for i in members},
            first.label_space,
            n_resamples=n_resamples,
            seed=seed,
            confidence=confidence,
        )
        blocks.append(
            Paragraph(f"Test set of {len(first.y_true)} items shared by: {', '.join(names[i] for i in members)}.")
        )
        rows = [
            [
                c.a,
                c.b,
                _delta(c.bootstrap.micro_f1),
                format_p(c.micro_f1_p_holm),
                _delta(c.bootstrap.macro_f1),
                format_p(c.macro_f1_p_holm),
                f"{c.mcnemar.n01} / {c.mcnemar.n10}",
                f"{format_p(c.mcnemar_p_holm)} ({c.mcnemar.method})",
            ]
            for c in comparisons
        ]
        headers = ["A", "B", "Δ micro F1 [CI]", "p (Holm)", "Δ macro F1 [CI]", "p (Holm)", "McNemar n01 / n10",
                   "McNemar p (Holm)"]  # fmt: skip
        blocks.append(Table(headers, rows))
    if not compared:
        blocks.append(Paragraph("No two runs share a test set, so no paired comparison applies."))
    return blocks


def _run_detail(run: Run, name: str, stem: str) -> list[Block]:
    described = [f"{key}: {run.info[key]}" for key in ("method", "model", "dataset", "seed") if key in run.info]
    m = run.metrics
    headline = [
        ["accuracy" + (" (exact match)" if run.label_space.multi_label else ""), _num(m["accuracy"])],
        ["micro F1", _num(m["micro_f1"])],
        ["macro F1", _num(m["macro_f1"])],
        ["weighted F1", _num(m["weighted_f1"])],
    ]
    if run.label_space.multi_label:
        headline += [
            ["Hamming loss", _num(m["hamming_loss"])],
            ["labels per item (true / predicted)", "{true:.2f} / {predicted:.2f}".format(**m["label_cardinality"])],
        ]
    headline += [
        [label, _num(m[key])] for key, label in (("ece", "ECE"), ("brier", "Brier"), ("nll", "NLL")) if key in m
    ]
    for key, label in (("trainable_parameters", "trainable parameters"), ("docs_per_second", "docs/s"),
                       ("train_seconds", "train seconds")):  # fmt: skip
        if key in run.info:
            value = run.info[key]
            headline.append([label, _count(value) if key == "trainable_parameters" else _num(value, ".1f")])
    if m.get("n_invalid"):
        headline.append(["predictions outside the label space (never counted right)", str(m["n_invalid"])])
    per_class = [
        [cls, _num(c["precision"]), _num(c["recall"]), _num(c["f1"]), str(c["support"])]
        for cls, c in m["per_class"].items()
    ]
    blocks: list[Block] = [
        Heading(name, level=3),
        Paragraph((" · ".join(described) + " · " if described else "") + f"{m['n']} test items · {run.path}"),
        Table(["metric", "value"], headline),
        Table(["class", "precision", "recall", "F1", "support"], per_class),
    ]
    if "confusion_matrix" in m:
        caption = f"Confusion matrix: {name} (rows: true class)"
        png = plots.confusion_matrix_png(m["confusion_matrix"], run.label_space.names, name)
        blocks.append(Image(f"figures/{stem}-confusion.png", png, caption))
    if run.proba is not None:
        caption = f"Reliability: {name}"
        truth, unseen = encode_truth(run.y_true, run.label_space)
        png = plots.reliability_png(truth[~unseen], run.proba[~unseen], caption)
        blocks.append(Image(f"figures/{stem}-reliability.png", png, caption))
    return blocks


def _unique_names(runs: list[Run]) -> list[str]:
    """Run names, with " (2)", " (3)", ... appended to repeats so that tables stay unambiguous."""
    seen: dict[str, int] = defaultdict(int)
    names = []
    for run in runs:
        seen[run.name] += 1
        names.append(run.name if seen[run.name] == 1 else f"{run.name} ({seen[run.name]})")
    return names


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:60] or "run"


def _text(value) -> str:
    return MISSING if value is None else str(value)


def _num(value, spec: str = ".4f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else _text(value)


def _count(value) -> str:
    return f"{int(value):,}" if isinstance(value, (int, float)) else _text(value)


def _delta(d) -> str:
    return f"{d.estimate:+.4f} [{d.ci_low:+.4f}, {d.ci_high:+.4f}]"
