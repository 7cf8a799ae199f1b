"""The parameters of the embedding head."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from causalclf.errors import ConfigError
from causalclf.fields import fraction, positive
from causalclf.methods.transformer_params import TokenBudget, TransformerParams

BEST = "best"
"""``layer: best``: a head per block on frozen features, the best on validation kept."""


@dataclass(repr=False, eq=False)
class EmbeddingHeadParams(TransformerParams, TokenBudget):
    """Causal LM + pooling + head, fine-tuned with LoRA (or a frozen backbone): the paper's main method."""

    pooling: Literal["last", "mean", "max"] = field(
        default="last",
        metadata={
            "help": "How token states become one vector: the last real token (the paper), or the mean or max over "
            "the real tokens (read from the attention mask)."
        },
    )
    head: Literal["linear", "mlp"] = field(
        default="linear", metadata={"help": "A linear head, or a 2-layer MLP (head_hidden units, GELU)."}
    )
    head_hidden: int = field(default=256, metadata={"help": "Hidden units of the MLP head.", "check": positive})
    head_dropout: float = field(default=0.1, metadata={"help": "Dropout before the head's layers.", "check": fraction})
    head_bias: bool = field(
        default=False,
        metadata={
            "help": "Whether the head's output layer has a bias. Off by default: a bias-free linear head is exactly "
            "the "
            "`score` layer of transformers' *ForSequenceClassification, so it exports to a standard checkpoint, "
            "and on bbc-news the bias changed no prediction on any of 3 seeds "
            "(bench/results/ablation_head_bias_bbc_table.md)."
        },
    )
    layer: int | Literal["best"] | None = field(
        default=None,
        metadata={
            "help": "The block whose output is pooled: null (the last), an index 1..n_blocks (negative counts from "
            "the end; the blocks above it are cut, so they cost nothing), or best (frozen backbone only: a head "
            "per block, the best on validation is kept)."
        },
    )
    class_weight: Literal["balanced"] | dict[str, float] | None = field(
        default=None,
        metadata={
            "help": "Weight the loss per class: balanced (inverse frequency), a {label: weight} mapping, or null."
        },
    )
    padding_side: Literal["right", "left"] = field(
        default="right",
        metadata={
            "help": "Which side batches are padded on; pooling reads the attention mask, so results do not depend "
            "on it."
        },
    )
    packing: bool = field(
        default=True,
        metadata={
            "help": "Inference without padding: on a CPU the texts of a batch run as one row with attention per text; "
            "elsewhere they share rows as wide as the longest text, each attending only to itself (position ids "
            "restart per text). The probabilities are those of padded batches. Checked once per backbone on two "
            "probe texts; one that mixes packed texts (custom code) is run padded, with a warning. Training "
            "always pads."
        },
    )

    def check_combinations(self) -> None:
        if self.layer == BEST and self.lora is not None:
            raise ConfigError(
                "layer='best' trains a head per block on frozen features: set lora=None "
                "(or pick a block index for a LoRA backbone)"
            )
