"""Classification methods, all behind the `Classifier` interface.

The registry maps the ``method:`` key of configs and saved models to a class; imports are
lazy so that `import causalclf` stays cheap and a method's heavy dependencies load only
when it is used.
"""
from __future__ import annotations

import importlib

from causalclf.methods.base import Classifier

_REGISTRY: dict[str, str] = {
    "embedding_head": "causalclf.methods.embedding_head:EmbeddingHeadClassifier",
    "instruction": "causalclf.methods.instruction:InstructionClassifier",
    "prompt": "causalclf.methods.prompting:PromptClassifier",
    "encoder": "causalclf.methods.encoder:EncoderClassifier",
    "tfidf": "causalclf.methods.tfidf:TfidfClassifier",
}


def method_names() -> list[str]:
    return sorted(_REGISTRY)


def get_method(name: str) -> type[Classifier]:
    """The Classifier class registered under `name` (e.g. ``"embedding_head"``)."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of {method_names()}") from None
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def load_classifier(path) -> Classifier:
    """Load any saved causalclf classifier, whatever its method."""
    return Classifier.from_pretrained(path)
