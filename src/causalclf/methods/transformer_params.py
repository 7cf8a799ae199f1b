"""The parameters shared by the methods built on a transformers model (`TransformerParams`), and the token
budget of those that batch by padded tokens (`TokenBudget`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from causalclf.backbones.lora import DEFAULT_LORA, check_lora
from causalclf.backbones.references import model_reference
from causalclf.fields import positive
from causalclf.methods.params import MethodParams
from causalclf.training.config import TrainingConfig

DTYPES = Literal["auto", "float32", "bfloat16", "float16", "fp32", "bf16", "fp16"]


def default_lora() -> dict:
    return dict(DEFAULT_LORA)


@dataclass(repr=False, eq=False)
class TransformerParams(MethodParams):
    """Model, adapters, placement, token budget, training and inference batch of a transformers-based method."""

    model: str = field(
        default="smollm2-135m",
        metadata={
            "help": "The backbone: a registry name (smollm2-135m), a local model folder, or a hub id already in the "
            "local cache.",
            "check": model_reference("causal"),
        },
    )
    lora: dict | None = field(
        default_factory=default_lora,
        metadata={
            "help": f"LoRA adapters as peft.LoraConfig keys, over the defaults {DEFAULT_LORA} (r, lora_alpha, "
            "lora_dropout, target_modules, use_rslora...); null trains no adapters.",
            "check": check_lora,
        },
    )
    lora_budget: int | None = field(
        default=None,
        metadata={
            "help": "Choose the LoRA rank whose adapters hold about this many trainable parameters (counted from the "
            "backbone's shapes), to compare methods at the same trainable budget; lora_alpha keeps its "
            "ratio to the rank.",
            "check": positive,
        },
    )
    max_length: int = field(
        default=512, metadata={"help": "Tokens kept per text (the beginning is kept).", "check": positive}
    )
    quantization: Literal["4bit", "8bit"] | None = field(
        default=None,
        metadata={
            "help": "Load the backbone in 4-bit NF4 or 8-bit through bitsandbytes (CUDA; pip install 'causalclf[gpu]')."
        },
    )
    dtype: DTYPES = field(
        default="auto",
        metadata={
            "help": "Weights' dtype; auto: bfloat16 on CUDA, float32 on CPU (bf16 is several times slower on a CPU)."
        },
    )
    device: str = field(default="auto", metadata={"help": "auto (CUDA when available), cpu, cuda or cuda:N."})
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "Recompute activations in the backward pass: less memory, more time."}
    )
    training: TrainingConfig | None = field(
        default=None,
        metadata={"help": "Optimisation settings (see `causalclf explain training`); null uses the defaults."},
    )
    batch_size: int = field(default=16, metadata={"help": "Texts per forward pass at inference.", "check": positive})
    threshold_average: Literal["macro", "micro"] = field(
        default="macro",
        metadata={
            "help": "Multi-label: the F1 average that per-class decision thresholds are tuned for on validation."
        },
    )


@dataclass(repr=False, eq=False, kw_only=True)
class TokenBudget:
    """The inference token budget of the methods that predict through `runtime.batching.batched` (a mixin)."""

    max_batch_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Cut inference batches by padded tokens instead of by count: each batch holds as many texts as "
            "fit (longest text in the batch x texts <= this), so short texts go in large batches, long ones "
            "in small, and memory is bounded by this number whatever the lengths; batch_size is then unused. "
            "At least max_length. null batches batch_size texts at a time.",
            "check": positive,
        },
    )
