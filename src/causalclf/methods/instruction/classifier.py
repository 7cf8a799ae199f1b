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

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
from torch import nn

from causalclf.backbones.loading import load_model, prepare_for_training
from causalclf.methods.base import Predictions
from causalclf.methods.instruction.params import InstructionParams
from causalclf.methods.lm_answer.labeler import Answering
from causalclf.methods.lm_answer.sft import sft_collator, sft_row
from causalclf.methods.transformer import ADAPTER_DIR, TOKENIZER_DIR, TransformerClassifier
from causalclf.methods.validation import tuned_thresholds, validation_f1
from causalclf.runtime.batching import Rows
from causalclf.training.loop import train_with_restarts


class InstructionClassifier(InstructionParams, Answering, TransformerClassifier):
    """A causal LM instruction-tuned with LoRA to write the label(s) of a text.

    Parameters: `InstructionParams` (`causalclf explain instruction` lists them). Fitted: ``lm_``
    (the adapted LM), ``labeler_``, ``train_result_``; after predicting: ``invalid_`` (bool per
    text), ``invalid_rate_`` and ``responses_`` (the decoded answers; None in score mode).
    """

    fitted_attributes: ClassVar[tuple[str, ...]] = ("lm_", "labeler_")
    _special_tokens_in_length: ClassVar[bool] = False

    def _load(self):
        """The causal LM (``tokenizer_`` is loaded)."""
        return load_model(self.model, "AutoModelForCausalLM", tokenizer=self.tokenizer_, options=self._options())

    # ------------------------------------------------------------------ API
    def fit(self, texts: Sequence[str], labels: Sequence, validation: tuple | None = None) -> InstructionClassifier:
        from transformers import set_seed

        y = self._init_labels(labels)
        config = self._training_config()
        self._load_tokenizer()
        rows = self._sft_rows(texts, y)

        def build(seed: int) -> nn.Module:
            """A fresh LoRA model initialised from `seed`."""
            set_seed(seed)
            lm = self._load()
            return prepare_for_training(lm, self._lora_config(lm, task_type="CAUSAL_LM"), self._options())

        val_texts, val_y, floor = self._validation(validation)

        def evaluate(module: nn.Module) -> float:
            # Checkpoints are picked by score-mode F1: one prompt pass per text, where
            # generating every epoch would cost several.
            return validation_f1(
                self, self._labeler(module, self.tokenizer_).scores(val_texts), val_y, self.threshold_average
            )

        self.lm_, self.train_result_ = train_with_restarts(
            build, Rows(rows), sft_collator(self.tokenizer_), config, None if validation is None else evaluate, floor
        )
        self.labeler_ = self._labeler(self.lm_, self.tokenizer_)
        if validation is not None and self.multi_label:
            self.thresholds_ = tuned_thresholds(self, self._logits(val_texts), val_y, self.threshold_average)
        return self

    def _sft_rows(self, texts: Sequence[str], y: np.ndarray) -> list[dict]:
        """Prompt + response training rows (`sft_row`) for encoded labels `y` (``tokenizer_`` is loaded)."""
        texts_only = self._labeler(None, self.tokenizer_)
        prompts = texts_only.prompt_ids(list(texts))
        return [sft_row(p, texts_only.tokens.encode(ids)) for p, ids in zip(prompts, self._label_ids(y))]

    def _label_ids(self, y: np.ndarray) -> list[list[int]]:
        if self.multi_label:
            return [np.flatnonzero(row).tolist() for row in y]
        return [[int(i)] for i in y]

    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        return self._inference_labeler().scores(list(texts))

    def predict_with_proba(self, texts: Sequence[str]) -> Predictions:
        """Labels by the `inference` mode, probabilities always by scoring; sets ``invalid_``,
        ``invalid_rate_`` and ``responses_``."""
        texts = list(texts)
        scored = super().predict_with_proba(texts)
        if self.inference == "score":
            answers, responses = scored.labels, None
        else:
            answers, responses = self._inference_labeler().decode(
                texts, self.inference == "constrained", self.max_new_tokens
            )
        invalid = np.array([a is None for a in answers], dtype=bool)
        for i in np.flatnonzero(invalid):
            if self.invalid_policy == "fallback_score":
                answers[i] = scored.labels[i]
            else:
                answers[i] = [] if self.multi_label else None
        self.invalid_, self.responses_ = invalid, responses
        self.invalid_rate_ = float(invalid.mean()) if len(texts) else 0.0
        return Predictions(answers, scored.proba, scored.logits)

    def _trained_module(self) -> nn.Module:
        return self.lm_

    def _inference_labeler(self):
        """``labeler_`` around the inference model (LoRA merged into a copy), rebuilt when that model or
        the batch size changed since."""
        model = self._inference_model()
        if self.labeler_.model is not model or self.labeler_.batch_size != self.batch_size:
            self.labeler_ = self._labeler(model, self.tokenizer_)
        return self.labeler_

    # ------------------------------------------------------------------ persistence
    def _save_weights(self, path: Path) -> None:
        self.tokenizer_.save_pretrained(path / TOKENIZER_DIR)
        self.lm_.save_pretrained(path / ADAPTER_DIR)

    def _load_weights(self, path: Path) -> None:
        from peft import PeftModel

        self._load_tokenizer(str(path / TOKENIZER_DIR))
        self.lm_ = PeftModel.from_pretrained(self._load(), path / ADAPTER_DIR, is_trainable=True).eval()
        self.labeler_ = self._labeler(self.lm_, self.tokenizer_)
