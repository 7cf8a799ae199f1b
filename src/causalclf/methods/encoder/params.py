"""The parameters of the fine-tuned encoder baseline."""

from __future__ import annotations

from dataclasses import dataclass, field

from causalclf.backbones.lora import check_lora
from causalclf.backbones.references import model_reference
from causalclf.fields import positive
from causalclf.methods.transformer_params import TokenBudget, TransformerParams

FULL_FINETUNE_LEARNING_RATE = 5e-5
"""Default peak learning rate when every weight trains: TrainingConfig's 2e-4 suits
adapters and heads but makes a fully fine-tuned encoder forget its pretraining."""


@dataclass(repr=False, eq=False)
class EncoderParams(TransformerParams, TokenBudget):
    """A BERT-style encoder fine-tuned end to end for classification (the encoder baseline, and the
    distillation student). `training` given as a mapping or left null gets a learning rate of 5e-5 for full
    fine-tuning (TrainingConfig's own 2e-4 with LoRA)."""

    model: str = field(
        default="minilm-l6",
        metadata={
            "help": "The encoder: a registry name (minilm-l6, the bundled all-MiniLM-L6-v2), a local folder or a hub "
            "id in the local cache, of a model with a sequence-classification head class.",
            "check": model_reference("encoder"),
        },
    )
    lora: dict | None = field(
        default=None,
        metadata={
            "help": "null fine-tunes every weight; peft.LoraConfig keys train adapters plus the new head only.",
            "check": check_lora,
        },
    )
    max_length: int = field(
        default=256, metadata={"help": "Tokens kept per text (the beginning is kept).", "check": positive}
    )
    batch_size: int = field(default=32, metadata={"help": "Texts per forward pass at inference.", "check": positive})
    int8_inference: bool = field(
        default=False,
        metadata={
            "help": "Predict with an int8 copy of the model (dynamic quantization of its Linear layers, CPU only), "
            "about 2x faster on CPU; training and the saved weights stay in full precision. Made for the "
            "distilled student served on a laptop."
        },
    )
