"""The method registry: each method registers itself once, from its own package (as PEFT's tuners do).

A registration names the method (the ``method:`` key of configs and saved models), its parameters'
dataclass (light: the validator, `causalclf explain` and the CLI read it without loading torch) and
where its classifier class lives (imported on first use). Everything that lists methods (the CLI's
choices, `explain`, the config validator, ``causalclf.<Name>Classifier``) reads this registry.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from causalclf.errors import ConfigError
from causalclf.fields import suggest
from causalclf.methods.params import MethodParams


@dataclass(frozen=True)
class Method:
    name: str
    params: type[MethodParams]
    classifier: str
    """``"package.module:ClassName"`` of the classifier, imported on first use."""
    summary: str
    """One line for `causalclf explain` and the CLI's help."""

    @property
    def class_name(self) -> str:
        return self.classifier.rpartition(":")[2]

    def load(self) -> type:
        module, _, attr = self.classifier.partition(":")
        return getattr(importlib.import_module(module), attr)


_METHODS: dict[str, Method] = {}


def register_method(name: str, params: type[MethodParams], classifier: str, summary: str) -> None:
    """Make the method `name` known: its parameters' dataclass and its classifier (``"module:Class"``)."""
    if name in _METHODS and _METHODS[name].params is not params:
        raise ValueError(f"a method {name!r} is registered already")
    params.method_name = name
    _METHODS[name] = Method(name, params, classifier, summary)


def methods() -> dict[str, Method]:
    return dict(sorted(_METHODS.items()))


def method(name: str) -> Method:
    """The registered method `name`; a `ConfigError` naming the closest otherwise."""
    if not isinstance(name, str) or name not in _METHODS:
        raise ConfigError(
            f"method {name!r} is unknown{suggest(str(name), _METHODS)}; choose one of {', '.join(sorted(_METHODS))}"
        )
    return _METHODS[name]
