"""The parameters of TF-IDF + logistic regression."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from causalclf.errors import ConfigError
from causalclf.fields import non_negative, positive
from causalclf.methods.params import MethodParams


def _ngram_range(value, where) -> None:
    if not 1 <= value[0] <= value[1]:
        raise ConfigError(f"{where}: {list(value)} must be [min_n, max_n] with 1 <= min_n <= max_n")


@dataclass(repr=False, eq=False)
class TfidfParams(MethodParams):
    """TF-IDF + logistic regression (one-vs-rest for multi-label): word 1-2 grams with sublinear term
    frequency, then a logistic regression."""

    C: float = field(
        default=10.0,
        metadata={"help": "Inverse regularisation strength of the logistic regression.", "check": positive},
    )
    max_features: int | None = field(
        default=200_000,
        metadata={"help": "Vocabulary size cap (the most frequent n-grams); null keeps all.", "check": positive},
    )
    ngram_range: tuple[int, int] = field(
        default=(1, 2), metadata={"help": "[min_n, max_n]: the word n-grams used.", "check": _ngram_range}
    )
    min_df: int | float = field(
        default=1,
        metadata={
            "help": "Drop n-grams seen in fewer documents (an integer) or a smaller share of them (a number < 1).",
            "check": non_negative,
        },
    )
    max_df: int | float = field(
        default=1.0,
        metadata={
            "help": "Drop n-grams seen in more documents (an integer) or a larger share of them (a number <= 1).",
            "check": positive,
        },
    )
    sublinear_tf: bool = field(
        default=True, metadata={"help": "Use 1 + log(tf), so that one repeated word cannot dominate a document."}
    )
    class_weight: Literal["balanced"] | None = field(
        default=None,
        metadata={
            "help": "balanced weights classes by inverse frequency (scikit-learn's meaning); null weighs all alike."
        },
    )
    max_iter: int = field(default=1000, metadata={"help": "Solver iterations.", "check": positive})
    threshold_average: Literal["macro", "micro"] = field(
        default="macro",
        metadata={"help": "Multi-label: the F1 average that per-class thresholds are tuned for on validation."},
    )
