"""`MethodParams`: what every method's parameters dataclass is (the classifier class inherits from it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(repr=False, eq=False)
class MethodParams:
    """A method's parameters: typed fields with their help and checks (`causalclf.fields`).

    The classifier class inherits them, so its ``__init__`` stores them untouched (scikit-learn
    manners); this class alone carries no torch or scikit-learn, for the validator and the CLI.
    """

    method_name: ClassVar[str] = ""
    """The registry key (set by `register_method`), written to a saved model's causalclf.json."""

    def check_combinations(self) -> None:
        """Raise `ConfigError` for parameters that are each valid but cannot work together."""
