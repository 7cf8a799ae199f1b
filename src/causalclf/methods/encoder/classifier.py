"""The fine-tuned encoder baseline: a BERT-style model with its sequence-classification head.

The sceptic's question is whether a causal LM beats a small encoder fine-tuned end to end,
so this is the plain recipe: `AutoModelForSequenceClassification`, full fine-tuning by
default (LoRA optional), cross-entropy for single-label and BCE on multi-hot float targets
for multi-label (transformers picks the loss from the config's ``problem_type``), trained
through the same loop and best-on-validation selection as every other method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
from torch import nn

from causalclf.backbones.loading import BackboneOptions, int8_for_cpu_inference, load_model, prepare_for_training
from causalclf.data.labels import LabelSpace
from causalclf.methods.encoder.params import FULL_FINETUNE_LEARNING_RATE, EncoderParams
from causalclf.methods.transformer import ADAPTER_DIR, FULL_WEIGHTS_DIR, TOKENIZER_DIR, TransformerClassifier
from causalclf.methods.validation import validation_f1
from causalclf.runtime.batching import Rows, batched
from causalclf.training.config import TrainingConfig
from causalclf.training.loop import train_with_restarts


class EncoderClassifier(EncoderParams, TransformerClassifier):
    """A BERT-style encoder fine-tuned for classification (the encoder baseline).

    Parameters: `EncoderParams` (`causalclf explain encoder` lists them). Fitted: ``model_``,
    ``train_result_``.
    """

    fitted_attributes: ClassVar[tuple[str, ...]] = ("model_",)

    # ------------------------------------------------------------------ model
    def _training_config(self) -> TrainingConfig:
        if isinstance(self.training, TrainingConfig):
            return self.training
        defaults = {} if self.lora is not None else {"learning_rate": FULL_FINETUNE_LEARNING_RATE}
        return TrainingConfig.coerce({**defaults, **(self.training or {})})

    def _options(self) -> BackboneOptions:
        # Fully fine-tuned weights stay fp32 under "auto": in bf16, AdamW's small updates
        # to large weights round away. With LoRA the frozen base may be bf16 (PEFT keeps the
        # adapters themselves in fp32).
        options = super()._options()
        options.dtype = "float32" if self.dtype == "auto" and self.lora is None else self.dtype
        return options

    def _load(self, source: str) -> nn.Module:
        """A sequence-classification model shaped for ``label_space_`` (``tokenizer_`` is loaded)."""
        names = self.labels_
        return load_model(
            source,
            "AutoModelForSequenceClassification",
            tokenizer=self.tokenizer_,
            options=self._options(),
            num_labels=len(names),
            id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)},
            problem_type="multi_label_classification" if self.multi_label else "single_label_classification",
        )

    def new_model(self, seed: int | None = None) -> nn.Module:
        """A fresh trainable model (pretrained encoder, new head initialised from `seed`) for ``label_space_``."""
        from transformers import set_seed

        set_seed(self._training_config().seed if seed is None else seed)  # the new head's initialisation
        model = self._load(self.model)
        if self.lora is not None:
            # SEQ_CLS makes PEFT train and save the new classification head next to the adapters.
            model = prepare_for_training(model, self._lora_config(model, task_type="SEQ_CLS"), self._options())
        elif self.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return model

    # ------------------------------------------------------------------ API
    def fit(self, texts: Sequence[str], labels: Sequence, validation: tuple | None = None) -> EncoderClassifier:
        y = self._init_labels(labels)
        self.start(self.label_space_)
        return self.fit_module([dict(r, labels=t) for r, t in zip(self.encode(texts), y)], validation)

    def start(self, label_space: LabelSpace) -> EncoderClassifier:
        """Begin a fit for `label_space` by hand (distillation does): the parameters checked, the tokenizer
        and a fresh model (``model_``, untrained head; `fit_module` trains this very model first) loaded."""
        self._set_label_space(label_space)
        self._load_tokenizer()
        self.model_, self._untrained = self.new_model(), True
        return self

    def fit_module(
        self,
        rows: list[dict],
        validation: tuple | None = None,
        objective: Callable[[nn.Module], nn.Module] | None = None,
    ) -> EncoderClassifier:
        """Train the model `start` loaded on `rows` (from `encode`, with the targets `objective` reads).

        `objective(model)` wraps the classification model in the module whose forward returns
        the loss, keeping it as ``.model`` (distillation); None trains the model on its own loss.
        A run that collapses is rebuilt from a new seed (`train_with_restarts`). Model selection
        scores the weights being trained, never a stale inference copy.
        """
        config = self._training_config()
        # Training may update the very module the inference copy was made from (distill predicts with
        # the untrained student, then trains it), so the copy goes now.
        self._inference_cache = None
        first = self.model_ if getattr(self, "_untrained", False) else None
        self._untrained = False

        def build(seed: int) -> nn.Module:
            nonlocal first
            fresh, first = (first, None) if first is not None else (self.new_model(seed), None)
            return fresh if objective is None else objective(fresh)

        def unwrap(module: nn.Module) -> nn.Module:
            return module if objective is None else module.model

        val_texts, val_y, floor = self._validation(validation)
        evaluate = (
            None
            if validation is None
            else lambda module: validation_f1(  # noqa: E731
                self, self._forward(unwrap(module).eval(), val_texts), val_y, self.threshold_average
            )
        )
        module, self.train_result_ = train_with_restarts(build, Rows(rows), self._collate, config, evaluate, floor)
        self.model_ = unwrap(module)
        if validation is not None:
            self.tune_thresholds_on(*validation, average=self.threshold_average)
        return self

    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        return self._forward(self._inference_model(), texts)

    def _forward(self, model: nn.Module, texts: Sequence[str]) -> np.ndarray:
        fn = lambda batch: model(**batch).logits  # noqa: E731
        return batched(
            fn,
            self.encode(texts),
            self._collate,
            self.batch_size,
            "predicting",
            next(model.parameters()).device,
            self.max_batch_tokens,
        )

    def _inference_key(self) -> tuple:
        return (*super()._inference_key(), self.int8_inference)

    def _build_inference_model(self) -> nn.Module:
        """The merged copy, or with `int8_inference` an int8 copy (which merges the adapters itself)."""
        return int8_for_cpu_inference(self.model_) if self.int8_inference else super()._build_inference_model()

    def _trained_module(self) -> nn.Module:
        return self.model_

    # ------------------------------------------------------------------ persistence
    def _save_weights(self, path: Path) -> None:
        self.tokenizer_.save_pretrained(path / TOKENIZER_DIR)
        # With LoRA only the adapters and the head are written; the base comes from `model`.
        self.model_.save_pretrained(path / (ADAPTER_DIR if self.lora is not None else FULL_WEIGHTS_DIR))

    def _load_weights(self, path: Path) -> None:
        self._load_tokenizer(str(path / TOKENIZER_DIR))
        if (path / ADAPTER_DIR).is_dir():
            from peft import PeftModel

            self.model_ = PeftModel.from_pretrained(self._load(self.model), path / ADAPTER_DIR, is_trainable=True)
        else:
            self.model_ = self._load(str(path / FULL_WEIGHTS_DIR))
        self.model_.eval()
