"""`TransformerClassifier`: what the methods built on a transformers model share.

The embedding head, the encoder and instruction tuning all take a model reference, LoRA
settings, placement (dtype, device, quantization), a token budget, training settings and an
inference batch size; they tokenize, pad and batch the same way, count their trainable
parameters from the model, and save the tokenizer and the adapter under the same folder names.
They also predict the same way: through a cached inference copy of the trained module with its
LoRA adapters merged into the weights and leaner MLP and norm modules (`_inference_model`,
`causalclf.runtime.lean`), so training and the saved adapter never change.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from torch import nn

from causalclf.backbones.adapters import lora_config
from causalclf.backbones.loading import BackboneOptions, count_trainable, load_tokenizer
from causalclf.methods.base import Classifier
from causalclf.runtime.batching import collate, encode_texts
from causalclf.runtime.lean import lean
from causalclf.training.config import TrainingConfig
from causalclf.training.loop import constant_prediction_f1

ADAPTER_DIR = "adapter"
TOKENIZER_DIR = "tokenizer"
FULL_WEIGHTS_DIR = "model"
"""Where a method that trains every weight (the encoder without LoRA) saves them, inside its model folder."""


def merged_copy(module: nn.Module) -> nn.Module:
    """An eval-mode copy of `module` with its LoRA adapters merged into the weights (`module` untouched).

    `merge_and_unload` replaces every adapted Linear by a plain one holding W + scale * B A, so
    a forward pass runs one matmul per projection instead of three, and none of PEFT's per-layer
    Python. A module that is not a PEFT model is copied as it is.
    """
    module = copy.deepcopy(module).eval()
    return module.merge_and_unload() if hasattr(module, "merge_and_unload") else module


class TransformerClassifier(Classifier):
    """Shared plumbing of the methods built on a transformers model; their parameters are `TransformerParams`'."""

    padding_side: ClassVar[str] = "right"

    # ------------------------------------------------------------------ settings
    def _options(self) -> BackboneOptions:
        return BackboneOptions(
            dtype=self.dtype,
            quantization=self.quantization,
            device=self.device,
            gradient_checkpointing=self.gradient_checkpointing,
        )

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
        ids = self.tokenizer_(list(texts), add_special_tokens=self._special_tokens_in_length, verbose=False)[
            "input_ids"
        ]
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

    def training_record(self) -> dict:
        record: dict = {"seed": self._training_config().seed}
        result = getattr(self, "train_result_", None)
        if result is not None:
            record["training"] = {
                "steps": result.steps,
                "best_validation_score": result.best_score,
                "attempts": result.attempts,
                "collapsed": result.collapsed,
                "checkpoint_mb": result.checkpoint_mb,
                "model_mb": result.model_mb,
                "engine": result.engine,
            }
        return record

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
