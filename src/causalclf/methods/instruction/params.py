"""The parameters of instruction tuning."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from causalclf.errors import ConfigError
from causalclf.fields import positive
from causalclf.methods.lm_answer.params import AnswerParams
from causalclf.methods.transformer_params import TransformerParams


@dataclass(repr=False, eq=False)
class InstructionParams(TransformerParams, AnswerParams):
    """A causal LM instruction-tuned with LoRA to write the label(s) of a text. `max_length` counts the
    document's tokens in the prompt: the document alone is cut, never the instruction or the answer."""

    inference: Literal["score", "constrained", "generate"] = field(
        default="score",
        metadata={
            "help": "How labels are read: score (each label's log-likelihood; never invalid), constrained (greedy "
            "decoding that can only write a valid answer) or generate (free decoding, parsed back)."
        },
    )
    invalid_policy: Literal["empty", "fallback_score"] = field(
        default="empty",
        metadata={
            "help": "For generated answers that name no label: empty (an abstention, counted wrong; the empty set for "
            "multi-label) or fallback_score (the score-mode decision for that text)."
        },
    )
    max_new_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Generation budget in generate mode; null allows the longest valid answer plus a few tokens.",
            "check": positive,
        },
    )
    batch_size: int = field(default=8, metadata={"help": "Documents per forward pass at inference.", "check": positive})

    def check_combinations(self) -> None:
        if self.lora is None:
            raise ConfigError(
                "instruction tuning trains LoRA adapters (lora=None); for a frozen model use PromptClassifier"
            )
