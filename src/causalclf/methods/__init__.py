"""Classification methods, all behind the `Classifier` interface (`base.py`), one subpackage each.

A method's package registers the method when imported (`registry.register_method`: its name, its
parameters' dataclass, its classifier class); importing this package imports every method package,
so every method is known. A method package loads only its parameters (no torch, no scikit-learn):
its classifier class loads on first use (`get_method`). Adding a method is one subpackage here whose
``__init__`` calls `register_method`.

What the methods share: `transformer.py` (the transformers-based ones), `lm_answer/` (how an LM
answers with a label, for instruction tuning and prompting), `validation.py` (the score that picks
the best weights).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from causalclf.methods.registry import method, methods, register_method

for _package in pkgutil.iter_modules(__path__):
    if _package.ispkg:  # each method package registers itself
        importlib.import_module(f"{__name__}.{_package.name}")


def method_names() -> list[str]:
    return list(methods())


def get_method(name: str) -> type:
    """The classifier class registered under `name` (e.g. ``"embedding_head"``)."""
    return method(name).load()


def load_classifier(path: str | Path):
    """Load any saved causalclf classifier, whatever its method."""
    from causalclf.methods.base import Classifier  # scikit-learn: loaded once a model is

    return Classifier.from_pretrained(path)


__all__ = ["get_method", "load_classifier", "method", "method_names", "methods", "register_method"]
