"""Report figures as PNG bytes, drawn with matplotlib's object API (no pyplot state, headless)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_DPI = 100


def new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def to_png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def confusion_matrix_png(matrix: Sequence[Sequence[int]], names: Sequence[str], title: str) -> bytes:
    """Counts with true classes as rows, as scikit-learn draws them; numbers omitted past 25 classes."""
    from sklearn.metrics import ConfusionMatrixDisplay

    k = len(names)
    size = min(3.0 + 0.45 * k, 16.0)
    fig = new_figure(size, size)
    ax = fig.add_subplot()
    ConfusionMatrixDisplay(np.asarray(matrix), display_labels=list(names)).plot(
        ax=ax, include_values=k <= 25, colorbar=False, xticks_rotation="vertical", cmap="Blues"
    )
    ax.set_title(title)
    return to_png(fig)


def reliability_png(y_true: np.ndarray, proba: np.ndarray, title: str) -> bytes:
    from causalclf.evaluation.calibration import reliability_diagram

    fig = new_figure(4.2, 4.2)
    reliability_diagram(y_true, proba, ax=fig.add_subplot(), title=title)
    return to_png(fig)


def scatter_png(points: Sequence[tuple[str, float, float]], xlabel: str, ylabel: str, title: str) -> bytes:
    """Labelled points (name, x, y) on a symlog x axis: costs span orders of magnitude, and a
    frozen model has zero trainable parameters, which a plain log axis cannot show."""
    fig = new_figure(6.0, 4.2)
    ax = fig.add_subplot()
    for i, (name, x, y) in enumerate(points):
        ax.scatter([x], [y], color=f"C{i % 10}")
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize="small")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return to_png(fig)


def learning_curves_png(curves: dict[str, Sequence[tuple[float, float, float, float]]], title: str) -> bytes:
    """Two panels, one line per method: macro-F1 against training documents and against training
    seconds; each point is (documents, seconds, mean macro-F1, std over seeds), drawn with its error bar."""
    fig = new_figure(11.0, 4.2)
    axes = fig.subplots(1, 2, sharey=True)
    for i, (method, points) in enumerate(curves.items()):
        points = sorted(points)
        docs, seconds, f1, std = (np.asarray(v, dtype=float) for v in zip(*points)) if points else ([],) * 4
        for ax, x in zip(axes, (docs, seconds)):
            ax.errorbar(x, f1, yerr=std, marker="o", capsize=3, color=f"C{i % 10}", label=method)
    for ax, xlabel in zip(axes, ("training documents", "training seconds")):
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("macro F1 (test)")
    axes[1].legend(fontsize="small")
    fig.suptitle(title)
    return to_png(fig)
