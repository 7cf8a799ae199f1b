"""`DistillConfig`: the ``distill:`` section of a run config, and the options of `causalclf distill`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from causalclf.fields import check_fields, check_instance, existing_path, fraction, positive
from causalclf.methods import method


def student_params(value: Any, where: str) -> None:
    """The student's parameters are valid parameters of the encoder method, together too."""
    params = method("encoder").params
    check_fields(params, value, where)
    params(**value).check_combinations()


@dataclass
class DistillConfig:
    """Distil the trained model into a small encoder student (the `distill:` section, and `causalclf distill`)."""

    student: dict = field(
        default_factory=dict,
        metadata={
            "help": "Parameters of the student EncoderClassifier (model, max_length, training, int8_inference...).",
            "check": student_params,
        },
    )
    temperature: float = field(
        default=2.0, metadata={"help": "T > 0 dividing the teacher's logits; T > 1 softens them.", "check": positive}
    )
    alpha: float = field(
        default=0.5,
        metadata={
            "help": "Weight of the hard-label loss on labelled texts (0: the teacher's soft targets only).",
            "check": fraction,
        },
    )
    unlabeled: str | None = field(
        default=None,
        metadata={
            "help": "More texts (any predict input) that the student learns from the teacher's soft labels.",
            "check": existing_path,
        },
    )
    output_dir: str | None = field(
        default=None, metadata={"help": "Where the student goes (default: <output_dir>/student)."}
    )

    def __post_init__(self) -> None:
        check_instance(self)
