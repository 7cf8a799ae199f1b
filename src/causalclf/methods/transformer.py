"""`TransformerClassifier`: what the methods built on a transformers model share.

The embedding head, the encoder and instruction tuning all take a model reference, LoRA
settings, placement (dtype, device, quantization), a token budget, training settings and an
inference batch size; they tokenize, pad and batch the same way, count their trainable
parameters from the model, and save the tokenizer and the adapter under the same folder names.
They also predict the same way: through a cached inference copy of the trained module with its
LoRA adapters merged into the weights and leaner MLP and norm modules (`_inference_model`,
`causalclf.methods.lean_forward`), so training and the saved adapter never change.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Sequence

import numpy as np
from torch import nn

from causalclf.backbones import DEFAULT_LORA, BackboneOptions, count_trainable, lora_config, load_tokenizer
from causalclf.config import TrainingConfig, lora_mapping, model_reference, positive
from causalclf.methods.base import Classifier
from causalclf.methods.batching import collate, encode_texts
from causalclf.methods.lean_forward import lean
from causalclf.training import constant_prediction_f1

ADAPTER_DIR = "adapter"
TOKENIZER_DIR = "tokenizer"
MODEL_DIR = "model"

DTYPES = Literal["auto", "float32", "bfloat16", "float16", "fp32", "bf16", "fp16"]


def default_lora() -> dict:
    return dict(DEFAULT_LORA)


def merged_copy(module: nn.Module) -> nn.Module:
    """An eval-mode copy of `module` with its LoRA adapters merged into the weights (`module` untouched).

    `merge_and_unload` replaces every adapted Linear by a plain one holding W + scale * B A, so
    a forward pass runs one matmul per projection instead of three, and none of PEFT's per-layer
    Python. A module that is not a PEFT model is copied as it is.
    """
    module = copy.deepcopy(module).eval()
    return module.merge_and_unload() if hasattr(module, "merge_and_unload") else module


@dataclass(repr=False, eq=False)
class TransformerClassifier(Classifier):
    """Shared parameters and plumbing of the methods built on a transformers model."""

    model: str = field(default="smollm2-135m", metadata={
        "help": "The backbone: a registry name (smollm2-135m), a local model folder, or a hub id already in the "
                "local cache.", "check": model_reference("causal")})
    lora: dict | None = field(default_factory=default_lora, metadata={
        "help": f"LoRA adapters as peft.LoraConfig keys, over the defaults {DEFAULT_LORA} (r, lora_alpha, "
                "lora_dropout, target_modules, use_rslora...); null trains no adapters.", "check": lora_mapping})
    lora_budget: int | None = field(default=None, metadata={
        "help": "Choose the LoRA rank whose adapters hold about this many trainable parameters (counted from the "
                "backbone's shapes), to compare methods at the same trainable budget; lora_alpha keeps its "
                "ratio to the rank.", "check": positive})
    max_length: int = field(default=512, metadata={"help": "Tokens kept per text (the beginning is kept).",
                                                  "check": positive})
    quantization: Literal["4bit", "8bit"] | None = field(default=None, metadata={
        "help": "Load the backbone in 4-bit NF4 or 8-bit through bitsandbytes (CUDA; pip install 'causalclf[gpu]')."})
    dtype: DTYPES = field(default="auto", metadata={
        "help": "Weights' dtype; auto: bfloat16 on CUDA, float32 on CPU (bf16 is several times slower on a CPU)."})
    device: str = field(default="auto", metadata={"help": "auto (CUDA when available), cpu, cuda or cuda:N."})
    gradient_checkpointing: bool = field(default=False, metadata={
        "help": "Recompute activations in the backward pass: less memory, more time."})
    training: TrainingConfig | None = field(default=None, metadata={
        "help": "Optimisation settings (see `causalclf explain training`); null uses the defaults."})
    batch_size: int = field(default=16, metadata={"help": "Texts per forward pass at inference.", "check": positive})
    threshold_average: Literal["macro", "micro"] = field(default="macro", metadata={
        "help": "Multi-label: the F1 average that per-class decision thresholds are tuned for on validation."})

    padding_side: ClassVar[str] = "right"

    # ------------------------------------------------------------------ settings
    def _options(self) -> BackboneOptions:
        return BackboneOptions(dtype=self.dtype, quantization=self.quantization, device=self.device,
                               gradient_checkpointing=self.gradient_checkpointing)

    def _training_config(self) -> TrainingConfig:
        return TrainingConfig.coerce(self.training)

    def _lora_config(self, backbone: nn.Module, task_type: str | None = None):
        """The `peft.LoraConfig` to attach to `backbone` (None without LoRA), sized by `lora_budget` if set."""
        return lora_config(self.lora, task_type, backbone, self.lora_budget)

    # ------------------------------------------------------------------ tokens
    def _load_tokenizer(self, source: str | None = None) -> None:
        """Load ``tokenizer_`` (from `model`, or a saved folder) once per fit or load."""
        self.tokenizer_ = load_tokenizer(source or self.model, padding_side=self.padding_side)

    def encode(self, texts: Sequence[str]) -> list[dict]:
        """One ``{input_ids, attention_mask}`` row per text, cut at `max_length` tokens."""
        return encode_texts(self.tokenizer_, texts, self.max_length)

    def _collate(self, rows: list[dict]) -> dict:
        return collate(self.tokenizer_, rows)

    def count_truncated(self, texts: Sequence[str]) -> int:
        """How many of `texts` are longer than `max_length` tokens, and so are cut (their beginning is kept)."""
        # verbose=False: texts longer than the model's limit are what this counts, not a mistake to warn about
        ids = self.tokenizer_(list(texts), add_special_tokens=self._special_tokens_in_length, verbose=False)["input_ids"]
        return sum(len(row) > self.max_length for row in ids)

    _special_tokens_in_length: ClassVar[bool] = True
    """Whether `max_length` counts the tokenizer's special tokens (it does for the text alone; an
    instruction prompt's `max_length` counts the document's own tokens)."""

    # ------------------------------------------------------------------ training
    def _validation(self, validation: tuple | None) -> tuple[Any, np.ndarray | None, float | None]:
        """(texts, encoded labels, constant-prediction floor) of the validation data, or Nones."""
        if validation is None:
            return None, None, None
        y = self.label_space_.encode(validation[1])
        return list(validation[0]), y, constant_prediction_f1(y, self.multi_label)

    def _trained_module(self) -> nn.Module:
        """The module whose parameters `fit` updates."""
        raise NotImplementedError

    @property
    def trainable_parameters(self) -> int:
        self._check_fitted()
        return count_trainable(self._trained_module())

    # ------------------------------------------------------------------ inference
    def _inference_model(self) -> nn.Module:
        """The module predictions run, built on first use and cached (`_build_inference_model`).

        The cache is keyed on the trained module itself (and `_inference_key`'s settings), so
        whatever replaces it (a refit, loading, distillation setting ``model_``) rebuilds the copy;
        `fit` also drops it, since training may update the very module it was copied from.
        """
        key = self._inference_key()
        cached = getattr(self, "_inference_cache", None)
        if cached is None or cached[0] != key:  # modules compare by identity
            self._inference_cache = None  # free the stale copy before building the next
            self._inference_cache = (key, self._build_inference_model())
        return self._inference_cache[1]

    def _inference_key(self) -> tuple:
        return (self._trained_module(),)

    def _build_inference_model(self) -> nn.Module:
        return self._merged(self._trained_module())

    def _merged(self, module: nn.Module) -> nn.Module:
        """`merged_copy(module)` with `lean` modules; `module` itself when it has no adapters or is
        quantized (merging into 4-bit/8-bit weights rounds them again, so predictions would drift)."""
        if self.quantization is not None or not hasattr(module, "merge_and_unload"):
            return module.eval()
        return lean(merged_copy(module))
