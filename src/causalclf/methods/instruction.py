"""Instruction tuning: the task as prompt -> response, a causal LM taught with LoRA to answer.

Training is supervised fine-tuning with the loss on the response tokens and its end token
only (`sft`). Three ways to read the tuned model:

- ``score``: each label's response is scored by its log-likelihood after the prompt, all
  from one cached prompt encoding (`label_scoring`); argmax (single-label) or tuned
  per-label thresholds (multi-label). Never invalid.
- ``constrained``: greedy decoding that can only write a valid answer (`constrained`).
- ``generate``: free greedy decoding, parsed back by the verbalizer; answers naming no
  label are counted (``invalid_rate_``) and handled by `invalid_policy`.

`predict_proba` always comes from scoring, whatever the inference mode.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from torch import nn

from causalclf.backbones import (
    BackboneOptions, LoraSpec, count_trainable, load_model, load_tokenizer, prepare_for_training,
)
from causalclf.methods.base import Classifier, Predictions
from causalclf.methods.batching import Rows
from causalclf.methods.embedding_head.classifier import ADAPTER_DIR, TOKENIZER_DIR
from causalclf.methods.lm_answer.labeler import LMLabeler
from causalclf.methods.lm_answer.prompts import PromptFormat
from causalclf.methods.lm_answer.sft import SFTCollator, sft_row
from causalclf.methods.validation import tuned_thresholds, validation_f1
from causalclf.methods.lm_answer.verbalizers import Verbalizer
from causalclf.training import TrainingConfig, constant_prediction_f1, train_with_restarts

INFERENCE_MODES = ("score", "constrained", "generate")
INVALID_POLICIES = ("empty", "fallback_score")


class InstructionClassifier(Classifier):
    """A causal LM instruction-tuned with LoRA to write the label(s) of a text.

    Parameters
    ----------
    model: registry name (``"smollm2-135m"``), local folder or hub id of a causal LM.
    inference: "score", "constrained" or "generate" (see the module docs).
    lora: `LoraSpec` (or dict) of the adapters trained by SFT.
    verbalizer: how a label is written: "name", "letters", "numbers", or a
        ``{label: word}`` mapping (unmapped labels keep their names).
    prompt_template: the user message as a format string with ``{text}`` (and optionally
        ``{labels}``, ``{separator}``, ``{none}``); None uses a default instruction. It is
        wrapped in the tokenizer's chat template when there is one.
    show_labels: list the label space in the default instruction.
    label_separator: joins the labels of a multi-label answer (label-space order).
    none_label: the answer for an empty multi-label set.
    length_normalize: score a single-label response by its mean token log-prob rather than
        the sum (multi-label scores are label-chain marginals, see `label_scoring`).
    invalid_policy: for ``generate`` answers that name no label: "empty" (the empty set
        for multi-label; None for single-label, an abstention that evaluation counts as
        wrong) or "fallback_score" (the score-mode decision for that text).
    max_length: tokens of the document kept in the prompt (the document alone is cut,
        never the instruction or the response).
    max_new_tokens: generation budget in ``generate`` mode; None allows the longest valid
        answer plus a few tokens.
    quantization, dtype, device, gradient_checkpointing: as for the embedding head.
    training: `TrainingConfig` (or dict) for SFT.
    batch_size: documents per forward pass at inference.
    threshold_average: "macro" or "micro" F1 for tuning multi-label thresholds.

    After `predict`: ``invalid_`` (bool per text), ``invalid_rate_`` and ``responses_``
    (the decoded answers; None in score mode).
    """

    method_name = "instruction"

    def __init__(self, model: str = "smollm2-135m", inference: str = "score",
                 lora: LoraSpec | dict | None = LoraSpec(), verbalizer: str | dict = "name",
                 prompt_template: str | None = None, show_labels: bool = True, label_separator: str = ", ",
                 none_label: str = "none", length_normalize: bool = False, invalid_policy: str = "empty",
                 max_length: int = 512, max_new_tokens: int | None = None, quantization: str | None = None,
                 dtype: str = "auto", device: str = "auto", gradient_checkpointing: bool = False,
                 training: TrainingConfig | dict | None = None, batch_size: int = 8,
                 threshold_average: str = "macro"):
        self.model = model
        self.inference = inference
        self.lora = lora
        self.verbalizer = verbalizer
        self.prompt_template = prompt_template
        self.show_labels = show_labels
        self.label_separator = label_separator
        self.none_label = none_label
        self.length_normalize = length_normalize
        self.invalid_policy = invalid_policy
        self.max_length = max_length
        self.max_new_tokens = max_new_tokens
        self.quantization = quantization
        self.dtype = dtype
        self.device = device
        self.gradient_checkpointing = gradient_checkpointing
        self.training = training
        self.batch_size = batch_size
        self.threshold_average = threshold_average

    # ------------------------------------------------------------------ building blocks
    def _check_params(self) -> None:
        if self.inference not in INFERENCE_MODES:
            raise ValueError(f"unknown inference {self.inference!r}; choose one of {INFERENCE_MODES}")
        if self.invalid_policy not in INVALID_POLICIES:
            raise ValueError(f"unknown invalid_policy {self.invalid_policy!r}; choose one of {INVALID_POLICIES}")

    def _options(self) -> BackboneOptions:
        return BackboneOptions(dtype=self.dtype, quantization=self.quantization, device=self.device,
                               gradient_checkpointing=self.gradient_checkpointing)

    def _load(self):
        """The causal LM (``tokenizer_`` is loaded)."""
        return load_model(self.model, "AutoModelForCausalLM", tokenizer=self.tokenizer_, options=self._options())

    def _make_labeler(self, lm) -> LMLabeler:
        """The prompt/answer machinery around `lm` (None builds prompts and answer tokens only)."""
        verbalizer = Verbalizer.build(self.label_space_, self.verbalizer, self.label_separator, self.none_label)
        prompt = PromptFormat(verbalizer, self.tokenizer_, self.prompt_template, self.show_labels, self.max_length)
        return LMLabeler(lm, self.tokenizer_, verbalizer, prompt, self.batch_size, self.length_normalize)

    def _fitted(self) -> LMLabeler:
        if not hasattr(self, "labeler_"):
            raise RuntimeError("this InstructionClassifier is not fitted yet: call fit() or from_pretrained()")
        return self.labeler_

    # ------------------------------------------------------------------ API
    def fit(self, texts: Sequence[str], labels: Sequence, validation: tuple | None = None) -> "InstructionClassifier":
        from transformers import set_seed

        self._check_params()
        config = TrainingConfig.coerce(self.training)
        lora = LoraSpec.coerce(self.lora)
        if lora is None:
            raise ValueError("instruction tuning trains LoRA adapters (lora=None); "
                             "for a frozen model use PromptClassifier")
        y = self._init_labels(labels)
        self.tokenizer_ = load_tokenizer(self.model)
        texts_only = self._make_labeler(None)
        prompts = texts_only.prompt_ids(list(texts))
        rows = [sft_row(p, texts_only.tokens.encode(ids)) for p, ids in zip(prompts, self._label_ids(y))]

        def build(seed: int) -> nn.Module:
            """A fresh LoRA model initialised from `seed`."""
            set_seed(seed)
            return prepare_for_training(self._load(), lora, self._options(), task_type="CAUSAL_LM")

        evaluate = floor = None
        if validation is not None:
            val_texts, val_labels = list(validation[0]), validation[1]
            val_y = self.label_space_.encode(val_labels)
            floor = constant_prediction_f1(val_y, self.multi_label)
            # Checkpoints are picked by score-mode F1: one prompt pass per text, where
            # generating every epoch would cost several.
            def evaluate(module: nn.Module) -> float:
                return validation_f1(self, self._make_labeler(module).scores(val_texts), val_y, self.threshold_average)
        self.lm_, self.train_result_ = train_with_restarts(
            build, Rows(rows), SFTCollator(self.tokenizer_.pad_token_id), config, evaluate, floor)
        self.labeler_ = self._make_labeler(self.lm_)
        if validation is not None and self.multi_label:
            self.thresholds_ = tuned_thresholds(self, self._logits(val_texts), val_y, self.threshold_average)
        return self

    def _label_ids(self, y: np.ndarray) -> list[list[int]]:
        if self.multi_label:
            return [np.flatnonzero(row).tolist() for row in y]
        return [[int(i)] for i in y]

    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        return self._fitted().scores(list(texts))

    def predict_with_proba(self, texts: Sequence[str]) -> Predictions:
        """Labels by the `inference` mode, probabilities always by scoring; sets ``invalid_``,
        ``invalid_rate_`` and ``responses_``."""
        self._check_params()
        texts = list(texts)
        scored = super().predict_with_proba(texts)
        if self.inference == "score":
            answers, responses = scored.labels, None
        else:
            answers, responses = self._fitted().decode(texts, self.inference == "constrained", self.max_new_tokens)
        invalid = np.array([a is None for a in answers], dtype=bool)
        for i in np.flatnonzero(invalid):
            if self.invalid_policy == "fallback_score":
                answers[i] = scored.labels[i]
            else:
                answers[i] = [] if self.multi_label else None
        self.invalid_, self.responses_ = invalid, responses
        self.invalid_rate_ = float(invalid.mean()) if len(texts) else 0.0
        return Predictions(answers, scored.proba, scored.logits)

    @property
    def trainable_parameters(self) -> int:
        if not hasattr(self, "lm_"):
            raise RuntimeError("trainable_parameters is counted from the fitted model: call fit() first")
        return count_trainable(self.lm_)

    # ------------------------------------------------------------------ persistence
    def _save_weights(self, path: Path) -> None:
        self.tokenizer_.save_pretrained(path / TOKENIZER_DIR)
        self._fitted().model.save_pretrained(path / ADAPTER_DIR)

    def _load_weights(self, path: Path) -> None:
        from peft import PeftModel

        self.tokenizer_ = load_tokenizer(str(path / TOKENIZER_DIR))
        self.lm_ = PeftModel.from_pretrained(self._load(), path / ADAPTER_DIR, is_trainable=True).eval()
        self.labeler_ = self._make_labeler(self.lm_)
