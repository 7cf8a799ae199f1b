"""The paper's main method: a small head on a causal LM's pooled hidden state.

The backbone is loaded through `AutoModel` (its LM head is never built), optionally in
4-bit/8-bit, and adapted with LoRA; the pooled representation (last real token by
default) feeds a linear or 2-layer MLP head kept in fp32. With ``lora=None`` the backbone
stays frozen: features are computed once and only the head is trained.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from causalclf.backbones import (
    BackboneOptions, LoraSpec, count_trainable, load_model, load_tokenizer, prepare_for_training,
)
from causalclf.methods.base import Classifier
from causalclf.methods.batching import Rows, batched, collate, encode_texts
from causalclf.methods.pooling import POOLING_MODES, pool
from causalclf.methods.validation import tuned_thresholds, validation_f1
from causalclf.training import TrainingConfig, constant_prediction_f1, train_with_restarts

HEAD_FILE = "head.safetensors"
ADAPTER_DIR = "adapter"
TOKENIZER_DIR = "tokenizer"


def build_head(kind: str, hidden: int, n_labels: int, mlp_hidden: int = 256, dropout: float = 0.1) -> nn.Module:
    """A linear head, or a 2-layer MLP (Linear-GELU-Dropout-Linear); always fp32.

    The output layer starts at zero: causal-LM hidden states have a few dimensions of
    magnitude ~15 (smollm2-135m), so a randomly initialised output layer starts with
    confident, arbitrary logits (initial loss above log K) that the first updates must undo.
    """
    if kind == "linear":
        layers = [nn.Dropout(dropout), nn.Linear(hidden, n_labels)]
    elif kind == "mlp":
        layers = [nn.Dropout(dropout), nn.Linear(hidden, mlp_hidden), nn.GELU(), nn.Dropout(dropout),
                  nn.Linear(mlp_hidden, n_labels)]
    else:
        raise ValueError(f"unknown head {kind!r}; use 'linear' or 'mlp'")
    nn.init.zeros_(layers[-1].weight)
    nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


def pooled_features(backbone: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    pooling: str) -> torch.Tensor:
    """The backbone's last hidden layer, pooled to one fp32 vector per text."""
    hidden = backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return pool(hidden, attention_mask, pooling).float()


class EmbeddingHeadModel(nn.Module):
    """backbone -> pooling -> fp32 head -> logits (+ loss when labels are given).

    `features` short-circuits the backbone: a frozen backbone's pooled vectors are
    computed once and the head trains on them directly.
    """

    def __init__(self, backbone: nn.Module | None, head: nn.Module, pooling: str, multi_label: bool,
                 loss_weight: torch.Tensor | None = None):
        super().__init__()
        self.backbone, self.head, self.pooling, self.multi_label = backbone, head, pooling, multi_label
        self.register_buffer("loss_weight", loss_weight, persistent=False)

    def forward(self, input_ids=None, attention_mask=None, features=None, labels=None):
        x = features if features is not None else pooled_features(self.backbone, input_ids, attention_mask,
                                                                  self.pooling)
        logits = self.head(x.to(next(self.head.parameters()).device))
        loss = None
        if labels is not None:
            if self.multi_label:
                loss = nn.functional.binary_cross_entropy_with_logits(
                    logits, labels.float(), pos_weight=self.loss_weight)
            else:
                loss = nn.functional.cross_entropy(logits, labels.long(), weight=self.loss_weight)
        return {"loss": loss, "logits": logits}


def _loss_weight(class_weight, y: np.ndarray, label_names: list[str], multi_label: bool):
    """Class weights for CE, or positive-class weights (pos_weight) for BCE."""
    if class_weight is None:
        return None
    k = len(label_names)
    if class_weight == "balanced":
        if multi_label:
            pos = y.sum(axis=0)
            w = (len(y) - pos) / np.maximum(pos, 1.0)
        else:
            counts = np.bincount(y, minlength=k)
            w = len(y) / (k * np.maximum(counts, 1))
    elif isinstance(class_weight, dict):
        unknown = set(class_weight) - set(label_names)
        if unknown:
            raise ValueError(f"class_weight names unknown labels {sorted(unknown)}")
        w = np.array([float(class_weight.get(n, 1.0)) for n in label_names])
    else:
        raise ValueError("class_weight must be None, 'balanced' or a {label: weight} dict")
    return torch.tensor(w, dtype=torch.float32)


class EmbeddingHeadClassifier(Classifier):
    """Causal LM + pooling + head, fine-tuned with LoRA (or a frozen backbone).

    Parameters
    ----------
    model: registry name (``"smollm2-135m"``), local folder or hub id.
    lora: `LoraSpec` (or dict) for the adapters; None trains the head on frozen features.
    pooling: "last" (last real token), "mean" or "max".
    head: "linear" or "mlp"; `head_hidden` and `head_dropout` shape it.
    max_length: tokens kept per text (the beginning is kept).
    class_weight: None, "balanced" or {label: weight}.
    quantization: None, "4bit" (NF4) or "8bit" (bitsandbytes).
    dtype, device: "auto" picks bf16 on CUDA and fp32 on CPU.
    gradient_checkpointing: trade compute for memory while training.
    training: `TrainingConfig` (or dict): epochs, batch size, learning rate, seed...
    batch_size: texts per forward pass at inference.
    threshold_average: "macro" or "micro" F1 for tuning multi-label thresholds.
    padding_side: "right" or "left"; pooling reads the mask, so results do not depend on it.
    """

    method_name = "embedding_head"

    def __init__(self, model: str = "smollm2-135m", lora: LoraSpec | dict | None = LoraSpec(),
                 pooling: str = "last", head: str = "linear", head_hidden: int = 256,
                 head_dropout: float = 0.1, max_length: int = 512, class_weight=None,
                 quantization: str | None = None, dtype: str = "auto", device: str = "auto",
                 gradient_checkpointing: bool = False, training: TrainingConfig | dict | None = None,
                 batch_size: int = 16, threshold_average: str = "macro", padding_side: str = "right"):
        self.model = model
        self.lora = lora
        self.pooling = pooling
        self.head = head
        self.head_hidden = head_hidden
        self.head_dropout = head_dropout
        self.max_length = max_length
        self.class_weight = class_weight
        self.quantization = quantization
        self.dtype = dtype
        self.device = device
        self.gradient_checkpointing = gradient_checkpointing
        self.training = training
        self.batch_size = batch_size
        self.threshold_average = threshold_average
        self.padding_side = padding_side

    # ------------------------------------------------------------------ backbone
    def _options(self) -> BackboneOptions:
        return BackboneOptions(dtype=self.dtype, quantization=self.quantization, device=self.device,
                               gradient_checkpointing=self.gradient_checkpointing)

    def _load_backbone(self, tokenizer_source: str | None = None):
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"unknown pooling {self.pooling!r}; choose one of {POOLING_MODES}")
        self.tokenizer_ = load_tokenizer(tokenizer_source or self.model, padding_side=self.padding_side)
        return load_model(self.model, "AutoModel", tokenizer=self.tokenizer_, options=self._options())

    def _base_backbone(self) -> nn.Module:
        """The un-adapted backbone, loaded on first use (for `embed` before `fit`)."""
        if getattr(self, "_frozen_backbone", None) is None:
            self._frozen_backbone = self._load_backbone().eval()
        return self._frozen_backbone

    @property
    def _device(self) -> torch.device:
        return next(self.model_.head.parameters()).device

    # ------------------------------------------------------------------ batching
    def _encode(self, texts: Sequence[str]) -> list[dict]:
        return encode_texts(self.tokenizer_, texts, self.max_length)

    def _collate(self, rows: list[dict]) -> dict:
        return collate(self.tokenizer_, rows)  # cached `features` rows are stacked like labels

    def _batched(self, fn, texts: Sequence[str], desc: str, device: torch.device) -> np.ndarray:
        return batched(fn, self._encode(texts), self._collate, self.batch_size, desc, device)

    # ------------------------------------------------------------------ API
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Pooled representations (n, hidden); before `fit`, of the base backbone."""
        adapted = getattr(self, "model_", None)
        backbone = adapted.backbone if adapted is not None and adapted.backbone is not None else self._base_backbone()
        return self._pool_texts(backbone, texts, "embedding")

    def _pool_texts(self, backbone: nn.Module, texts: Sequence[str], desc: str) -> np.ndarray:
        backbone.eval()
        fn = lambda ids, mask: pooled_features(backbone, ids, mask, self.pooling)  # noqa: E731
        return self._batched(fn, texts, desc, next(backbone.parameters()).device)

    def fit(self, texts: Sequence[str], labels: Sequence, validation: tuple | None = None) -> "EmbeddingHeadClassifier":
        from transformers import set_seed

        config = TrainingConfig.coerce(self.training)
        lora = LoraSpec.coerce(self.lora)
        y = self._init_labels(labels)
        weight = _loss_weight(self.class_weight, y, self.labels_, self.multi_label)

        def build(seed: int) -> nn.Module:
            """A fresh model (new LoRA and head initialisation from `seed`) as ``model_``."""
            set_seed(seed)
            if lora is None:
                backbone, trainable_backbone = self._base_backbone(), None
            else:
                backbone = trainable_backbone = prepare_for_training(self._load_backbone(), lora, self._options())
            head = build_head(self.head, backbone.config.hidden_size, len(self.label_space_), self.head_hidden,
                              self.head_dropout)
            device = next(backbone.parameters()).device
            self.model_ = EmbeddingHeadModel(trainable_backbone, head.to(device), self.pooling, self.multi_label,
                                             None if weight is None else weight.to(device))
            return self.model_

        if lora is None:  # frozen backbone: pool once, train the head on cached features
            backbone = self._base_backbone()
            feats = self._pool_texts(backbone, texts, "features")
            rows = [{"features": torch.from_numpy(f), "labels": t} for f, t in zip(feats, y)]
            val_feats = None if validation is None else torch.from_numpy(
                self._pool_texts(backbone, validation[0], "features"))
            config = TrainingConfig(**{**config.__dict__, "group_by_length": False})
        else:
            self.tokenizer_ = load_tokenizer(self.model, padding_side=self.padding_side)
            rows = [dict(r, labels=t) for r, t in zip(self._encode(texts), y)]
            val_feats = None

        evaluate = floor = None
        if validation is not None:
            val_texts, val_labels = validation
            val_y = self.label_space_.encode(val_labels)
            evaluate = lambda: self._validation_score(val_texts, val_y, val_feats)  # noqa: E731
            floor = constant_prediction_f1(val_y, self.multi_label)

        self.train_result_ = train_with_restarts(build, Rows(rows), self._collate, config, evaluate, floor)
        if validation is not None and self.multi_label:
            self.thresholds_ = self._tuned_thresholds(self._val_logits(validation[0], val_feats), val_y)
        return self

    def _val_logits(self, texts, feats) -> np.ndarray:
        if feats is None:
            return self._logits(texts)
        with torch.no_grad():
            return self.model_.head(feats.to(self._device)).cpu().numpy()

    def _tuned_thresholds(self, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
        return tuned_thresholds(self, logits, y, self.threshold_average)

    def _validation_score(self, texts, y: np.ndarray, feats) -> float:
        """Macro-F1 on validation; multi-label with thresholds tuned on the same logits."""
        return validation_f1(self, self._val_logits(texts, feats), y, self.threshold_average)

    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise RuntimeError("this EmbeddingHeadClassifier is not fitted yet: call fit() or from_pretrained()")
        model = self.model_
        if model.backbone is None:  # frozen backbone: pool with the base model, then the head
            feats = torch.from_numpy(self.embed(texts)).to(self._device)
            with torch.no_grad():
                return model.head.eval()(feats).cpu().numpy()
        model.eval()
        fn = lambda ids, mask: model(input_ids=ids, attention_mask=mask)["logits"]  # noqa: E731
        return self._batched(fn, texts, "predicting", self._device)

    @property
    def trainable_parameters(self) -> int:
        if not hasattr(self, "model_"):
            raise RuntimeError("trainable_parameters is counted from the fitted model: call fit() first")
        return count_trainable(self.model_)

    # ------------------------------------------------------------------ persistence
    def _save_weights(self, path: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.detach().cpu().contiguous() for k, v in self.model_.head.state_dict().items()},
                  str(path / HEAD_FILE))
        self.tokenizer_.save_pretrained(path / TOKENIZER_DIR)
        if self.model_.backbone is not None:
            self.model_.backbone.save_pretrained(path / ADAPTER_DIR)

    def _load_weights(self, path: Path) -> None:
        from safetensors.torch import load_file

        state = load_file(str(path / HEAD_FILE))
        backbone = self._load_backbone(tokenizer_source=str(path / TOKENIZER_DIR))
        hidden = backbone.config.hidden_size
        head = build_head(self.head, hidden, len(self.label_space_), self.head_hidden, self.head_dropout)
        head.load_state_dict(state)
        device = next(backbone.parameters()).device
        if (path / ADAPTER_DIR).is_dir():
            from peft import PeftModel

            adapted = PeftModel.from_pretrained(backbone, path / ADAPTER_DIR, is_trainable=True)
        else:
            self._frozen_backbone = backbone.eval()
            for p in backbone.parameters():
                p.requires_grad_(False)
            adapted = None
        self.model_ = EmbeddingHeadModel(adapted, head.to(device), self.pooling, self.multi_label).eval()
