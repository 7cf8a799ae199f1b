"""Evaluation: metrics, paired significance, calibration, thresholds, seeds, runs and reports.

Names are imported lazily so that ``import causalclf.evaluation`` loads none of
scikit-learn, statsmodels or matplotlib until a function that needs them is used.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "classification_metrics": "causalclf.evaluation.metrics",
    "format_metrics": "causalclf.evaluation.metrics",
    "mcnemar": "causalclf.evaluation.significance",
    "paired_bootstrap": "causalclf.evaluation.significance",
    "holm": "causalclf.evaluation.significance",
    "compare_pairwise": "causalclf.evaluation.significance",
    "summarize_seeds": "causalclf.evaluation.seeds",
    "compare_over_seeds": "causalclf.evaluation.seeds",
    "expected_calibration_error": "causalclf.evaluation.calibration",
    "brier_score": "causalclf.evaluation.calibration",
    "reliability_diagram": "causalclf.evaluation.calibration",
    "temperature_scale": "causalclf.evaluation.calibration",
    "tune_thresholds": "causalclf.evaluation.thresholds",
    "save_run": "causalclf.evaluation.runs",
    "load_run": "causalclf.evaluation.runs",
    "write_report": "causalclf.evaluation.report",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'causalclf.evaluation' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
