"""causalclf: turn causal (decoder-only) LLMs into text classifiers.

Public names are imported lazily so that ``import causalclf`` does not load torch. The classifier
classes (``EmbeddingHeadClassifier``...) are those of the registered methods (`causalclf.methods`).
"""

from __future__ import annotations

import importlib

from causalclf.methods.registry import methods as _registered

__version__ = "0.1.0"

_LAZY = {
    "distill": "causalclf.distillation.student",
    "TrainingConfig": "causalclf.training.config",
    "DistillConfig": "causalclf.distillation.config",
    "LabelSpace": "causalclf.data.labels",
    "load_dataset": "causalclf.data",
    "load_classifier": "causalclf.methods",
}
_CLASSIFIERS = {m.class_name: m for m in _registered().values()}

__all__ = sorted([*_LAZY, *_CLASSIFIERS])


def __getattr__(name: str):
    if name in _CLASSIFIERS:
        return _CLASSIFIERS[name].load()
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'causalclf' has no attribute {name!r}")
