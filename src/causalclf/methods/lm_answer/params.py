"""The parameters of how an LM is asked and answers, shared by instruction tuning and prompting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from causalclf.errors import ConfigError


def _has_text_field(value: str, where: str) -> None:
    if "{text}" not in value:
        raise ConfigError(f"{where}: a prompt template needs a {{text}} field, where the document goes")


@dataclass(repr=False, eq=False, kw_only=True)
class AnswerParams:
    """Parameters of how an LM is asked and how it answers (instruction tuning and prompting)."""

    verbalizer: Literal["name", "letters", "numbers"] | dict[str, str] = field(
        default="name",
        metadata={
            "help": "How a label is written in the answer: its name, a letter code, a number code, or a {label: word} "
            "mapping (unmapped labels keep their names)."
        },
    )
    prompt_template: str | None = field(
        default=None,
        metadata={
            "help": "The user message as a format string with {text} (and optionally {labels}, {separator}, {none}); "
            "null uses a default instruction. It goes through the tokenizer's chat template when there is one.",
            "check": _has_text_field,
        },
    )
    show_labels: bool = field(default=True, metadata={"help": "List the label space in the default instruction."})
    label_separator: str = field(
        default=", ", metadata={"help": "Joins the labels of a multi-label answer (in label-space order)."}
    )
    none_label: str = field(default="none", metadata={"help": "The answer for an empty multi-label set."})
    length_normalize: bool = field(
        default=False,
        metadata={"help": "Score a single-label answer by its mean token log-probability rather than the sum."},
    )
