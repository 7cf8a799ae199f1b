"""causalclf: turn causal (decoder-only) LLMs into text classifiers.

Public names are imported lazily so that ``import causalclf`` does not load torch.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "EmbeddingHeadClassifier": "causalclf.methods.embedding_head",
    "InstructionClassifier": "causalclf.methods.instruction",
    "PromptClassifier": "causalclf.methods.prompting",
    "EncoderClassifier": "causalclf.methods.encoder",
    "TfidfClassifier": "causalclf.methods.tfidf",
    "distill": "causalclf.methods.distill",
    "TrainingConfig": "causalclf.config",
    "DistillConfig": "causalclf.config",
    "LabelSpace": "causalclf.data.labels",
    "load_dataset": "causalclf.data",
    "load_classifier": "causalclf.methods",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'causalclf' has no attribute {name!r}")
