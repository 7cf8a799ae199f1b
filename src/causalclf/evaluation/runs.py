"""A run directory: the predictions of one classifier on one test set, and their metrics.

Layout (everything plain text, readable without causalclf)::

    RUN_DIR/
      metrics.json       {"name": ..., <every key of classification_metrics>, "info": {...}}
      predictions.jsonl  one {"true": ..., "pred": ..., "proba": [...]} per test item
      label_space.json   LabelSpace.to_dict(): the column order of "proba"

``info`` holds what describes the run rather than its outcome: method, model, dataset,
seed, trainable_parameters, docs_per_second, train_seconds, ... Metrics sit at the top
level so that ``json.load(f)["macro_f1"]`` works; info is nested so that its keys can
never shadow a metric.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from causalclf.data.labels import LabelSpace
from causalclf.evaluation.metrics import classification_metrics

METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.jsonl"
LABEL_SPACE_FILE = "label_space.json"


@dataclass
class Run:
    """A run directory read back by `load_run`."""

    name: str
    path: Path
    label_space: LabelSpace
    y_true: list
    y_pred: list
    proba: np.ndarray | None
    """(n, k) probabilities in label_space order, or None when the run saved none."""
    metrics: dict
    """The `classification_metrics` dict."""
    info: dict = field(default_factory=dict)


def save_run(
    run_dir: str | Path,
    *,
    name: str,
    y_true: Sequence,
    y_pred: Sequence,
    label_space: LabelSpace,
    proba: np.ndarray | None = None,
    info: dict | None = None,
) -> dict:
    """Compute the metrics of one run and write its directory; returns the metrics.json content."""
    run_dir = Path(run_dir)
    metrics = classification_metrics(y_true, y_pred, label_space, proba=proba)
    record = {"name": name, **metrics, "info": dict(info or {})}
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / METRICS_FILE).write_text(json.dumps(record, indent=2, default=_builtin))
    label_space.save(run_dir / LABEL_SPACE_FILE)
    rows = np.asarray(proba, dtype=np.float64).tolist() if proba is not None else [None] * len(y_true)
    with open(run_dir / PREDICTIONS_FILE, "w") as f:
        for true, pred, p in zip(y_true, y_pred, rows):
            line: dict[str, Any] = {"true": true, "pred": pred}
            if p is not None:
                line["proba"] = p
            f.write(json.dumps(line, default=_builtin) + "\n")
    return json.loads(json.dumps(record, default=_builtin))


def load_run(run_dir: str | Path) -> Run:
    """Read a directory written by `save_run`."""
    run_dir = Path(run_dir)
    if not (run_dir / METRICS_FILE).is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no {METRICS_FILE})")
    record = json.loads((run_dir / METRICS_FILE).read_text())
    lines = [json.loads(line) for line in (run_dir / PREDICTIONS_FILE).read_text().splitlines() if line.strip()]
    has_proba = bool(lines) and all("proba" in line for line in lines)
    return Run(
        name=record.pop("name"),
        path=run_dir,
        label_space=LabelSpace.load(run_dir / LABEL_SPACE_FILE),
        y_true=[line["true"] for line in lines],
        y_pred=[line["pred"] for line in lines],
        proba=np.array([line["proba"] for line in lines], dtype=np.float64) if has_proba else None,
        info=record.pop("info", {}),
        metrics=record,
    )


def _builtin(value: Any) -> Any:
    """json.dumps fallback for the numpy and pathlib values that callers naturally pass in info."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
