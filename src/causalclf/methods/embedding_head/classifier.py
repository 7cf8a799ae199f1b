"""`EmbeddingHeadClassifier`: backbone (LoRA or frozen) -> pooling -> fp32 head, as an estimator.

The backbone is loaded through `AutoModel` (its LM head is never built), optionally in
4-bit/8-bit, and adapted with LoRA; the pooled representation (last real token by
default) feeds a linear or 2-layer MLP head kept in fp32. With ``lora=None`` the backbone
stays frozen: features are computed once and only the head is trained, which also makes
``layer="best"`` cheap: every block's features come from one pass, a head is trained on
each, and validation picks the block.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from causalclf.backbones.loading import load_model, prepare_for_training
from causalclf.errors import ConfigError
from causalclf.methods.embedding_head.layers import keep_layers, n_layers, pooled_layers, resolve_layer
from causalclf.methods.embedding_head.model import EmbeddingHeadModel, build_head, pooled_features
from causalclf.methods.embedding_head.params import BEST, EmbeddingHeadParams
from causalclf.methods.embedding_head.pooling import POOLING_MODES
from causalclf.methods.transformer import ADAPTER_DIR, TOKENIZER_DIR, TransformerClassifier
from causalclf.methods.validation import tuned_thresholds, validation_f1
from causalclf.runtime.batching import Rows, batched
from causalclf.runtime.packing import attend_per_text, packed_collate, unmasked_correctly
from causalclf.training.loop import train_with_restarts

log = logging.getLogger(__name__)

HEAD_FILE = "head.safetensors"


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
            from sklearn.utils.class_weight import compute_class_weight

            w = compute_class_weight("balanced", classes=np.arange(k), y=y)
    elif isinstance(class_weight, dict):
        unknown = set(class_weight) - set(label_names)
        if unknown:
            raise ConfigError(f"class_weight names labels that are not in the training data: {sorted(unknown)}")
        w = np.array([float(class_weight.get(n, 1.0)) for n in label_names])
    else:
        raise ValueError("class_weight must be None, 'balanced' or a {label: weight} dict")
    return torch.tensor(w, dtype=torch.float32)


class EmbeddingHeadClassifier(EmbeddingHeadParams, TransformerClassifier):
    """Causal LM + pooling + head, fine-tuned with LoRA (or a frozen backbone).

    Parameters: `EmbeddingHeadParams` (`causalclf explain embedding_head` lists them). Fitted:
    ``model_`` (the `EmbeddingHeadModel`), ``layer_`` (the block read, 1-based), ``layer_scores_``
    (layer="best"), ``train_result_``.
    """

    fitted_attributes: ClassVar[tuple[str, ...]] = ("model_",)

    # ------------------------------------------------------------------ backbone
    def _load_backbone(self, layer: int | None = None) -> nn.Module:
        """The bare backbone, cut after block `layer` (see `resolve_layer`) when one is given."""
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"unknown pooling {self.pooling!r}; choose one of {POOLING_MODES}")
        if getattr(self, "tokenizer_", None) is None:
            self._load_tokenizer()
        backbone = load_model(self.model, "AutoModel", tokenizer=self.tokenizer_, options=self._options())
        return backbone if layer is None else keep_layers(backbone, resolve_layer(layer, n_layers(backbone)))

    def _base_backbone(self) -> nn.Module:
        """The frozen backbone, loaded on first use (for `embed` before `fit`, and frozen heads)."""
        if getattr(self, "_frozen_backbone", None) is None:
            layer = getattr(self, "layer_", None) or (None if self.layer == BEST else self.layer)
            backbone = attend_per_text(self._load_backbone(layer).eval())
            for p in backbone.parameters():
                p.requires_grad_(False)
            self._frozen_backbone = backbone
        return self._frozen_backbone

    def _pool_texts(self, fn, texts: Sequence[str], desc: str, backbone: nn.Module) -> np.ndarray:
        """`fn(batch)` over the texts, in packed batches when `packing` holds for `backbone`, else padded."""
        unmasked_correctly(backbone, self.tokenizer_)  # then right-padded batches go without their mask
        collate = packed_collate(backbone, self.tokenizer_, self._collate) if self.packing else self._collate
        return batched(
            fn,
            self.encode(texts),
            collate,
            self.batch_size,
            desc,
            next(backbone.parameters()).device,
            self.max_batch_tokens,
        )

    def _features(self, backbone: nn.Module, texts: Sequence[str], desc: str) -> np.ndarray:
        return self._pool_texts(lambda batch: pooled_features(backbone, batch, self.pooling), texts, desc, backbone)

    def training_record(self) -> dict:
        record = super().training_record()
        if getattr(self, "layer_scores_", None):  # layer: best; which block won, and each block's validation F1
            record.update(layer=self.layer_, layer_scores=self.layer_scores_)
        return record

    # ------------------------------------------------------------------ API
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Pooled representations (n, hidden); before `fit`, of the base backbone."""
        adapted = self._inference_model() if hasattr(self, "model_") else None
        backbone = adapted.backbone if adapted is not None and adapted.backbone is not None else self._base_backbone()
        backbone.eval()
        return self._features(backbone, texts, "embedding")

    def fit(self, texts: Sequence[str], labels: Sequence, validation: tuple | None = None) -> EmbeddingHeadClassifier:
        if self.layer == BEST and validation is None:
            raise ConfigError("layer='best' picks the block on validation data: pass validation=(texts, labels)")
        y = self._init_labels(labels)
        config = self._training_config()
        # the old inference copy goes now: it would sit in memory through training
        self.tokenizer_, self._frozen_backbone, self.layer_scores_, self._inference_cache = None, None, None, None
        _, val_y, floor = self._validation(validation)
        weight = _loss_weight(self.class_weight, y, self.labels_, self.multi_label)
        fit = self._fit_frozen if self.lora is None else self._fit_lora
        val_logits = fit(texts, y, validation, val_y, floor, weight, config)
        if validation is not None and self.multi_label:
            self.thresholds_ = tuned_thresholds(self, val_logits, val_y, self.threshold_average)
        return self

    def _fit_lora(self, texts, y, validation, val_y, floor, weight, config) -> np.ndarray | None:
        """Train adapters and head end to end; returns the kept model's validation logits."""
        self._load_tokenizer()

        def build(seed: int) -> EmbeddingHeadModel:
            """A fresh model: the pretrained backbone with new LoRA adapters and a new head, from `seed`."""
            from transformers import set_seed

            set_seed(seed)
            backbone = self._load_backbone(self.layer)
            backbone = prepare_for_training(backbone, self._lora_config(backbone), self._options())
            return self._assemble(backbone, backbone.config.hidden_size, weight)

        rows = [dict(r, labels=t) for r, t in zip(self.encode(texts), y)]
        evaluate = (
            None
            if validation is None
            # noqa: E731
            else (
                lambda module: validation_f1(
                    self, self._logits_of(module, validation[0]), val_y, self.threshold_average
                )
            )
        )
        self.model_, self.train_result_ = train_with_restarts(build, Rows(rows), self._collate, config, evaluate, floor)
        self.layer_ = n_layers(self.model_.backbone)
        return None if validation is None else self._logits_of(self.model_, validation[0])

    def _fit_frozen(self, texts, y, validation, val_y, floor, weight, config) -> np.ndarray | None:
        """Pool once with the frozen backbone, then train only the head on the cached features;
        returns the kept head's validation logits."""
        backbone = attend_per_text(self._load_backbone().eval())  # it only ever runs inference
        for p in backbone.parameters():
            p.requires_grad_(False)
        total = n_layers(backbone)
        config = replace(config, group_by_length=False)
        if self.layer == BEST:
            fn = lambda batch: pooled_layers(backbone, batch, self.pooling).transpose(0, 1)  # noqa: E731
            train_all = self._pool_texts(fn, texts, "features (every block)", backbone)
            val_all = self._pool_texts(fn, validation[0], "features (every block)", backbone)
            quiet = replace(config, progress_bar=False, logging_steps=10**9)
            fitted, self.layer_scores_ = {}, {}
            for k in range(1, total + 1):
                block = (
                    quiet
                    if quiet.checkpoint_dir is None
                    else replace(  # one checkpoint folder per head
                        quiet, checkpoint_dir=str(Path(quiet.checkpoint_dir) / f"block-{k}")
                    )
                )
                fitted[k] = self._fit_head(train_all[:, k - 1], y, val_all[:, k - 1], val_y, floor, weight, block)
                self.layer_scores_[k] = fitted[k][1].best_score
                log.info("block %d/%d: validation macro-F1 %.4f", k, total, self.layer_scores_[k])
            self.layer_ = max(self.layer_scores_, key=lambda k: (self.layer_scores_[k], k))
            self.model_, self.train_result_ = fitted[self.layer_]
            val_feats = val_all[:, self.layer_ - 1]
        else:
            self.layer_ = resolve_layer(self.layer, total)
            keep_layers(backbone, self.layer_)
            train_feats = self._features(backbone, texts, "features")
            val_feats = None if validation is None else self._features(backbone, validation[0], "features")
            self.model_, self.train_result_ = self._fit_head(train_feats, y, val_feats, val_y, floor, weight, config)
        self._frozen_backbone = keep_layers(backbone, self.layer_)
        return None if val_feats is None else self._head_logits(self.model_, val_feats)

    def _fit_head(self, feats: np.ndarray, y, val_feats: np.ndarray | None, val_y, floor, weight, config):
        """(model, result): a head trained on pooled `feats`, picked on `val_feats` when given."""
        rows = [{"features": torch.from_numpy(f), "labels": t} for f, t in zip(feats, y)]

        def build(seed: int) -> EmbeddingHeadModel:
            from transformers import set_seed

            set_seed(seed)
            return self._assemble(None, feats.shape[1], weight, device=torch.device("cpu"))

        def evaluate(module: EmbeddingHeadModel) -> float:
            return validation_f1(self, self._head_logits(module, val_feats), val_y, self.threshold_average)

        return train_with_restarts(
            build, Rows(rows), self._collate, config, None if val_feats is None else evaluate, floor
        )

    @staticmethod
    def _head_logits(module: EmbeddingHeadModel, feats: np.ndarray) -> np.ndarray:
        head = module.head.eval()
        with torch.no_grad():
            return head(torch.from_numpy(np.ascontiguousarray(feats)).to(next(head.parameters()).device)).cpu().numpy()

    def _assemble(self, backbone: nn.Module | None, hidden: int, weight, device: torch.device | None = None):
        device = device or next(backbone.parameters()).device
        head = build_head(
            self.head, hidden, len(self.label_space_), self.head_hidden, self.head_dropout, self.head_bias
        ).to(device)
        return EmbeddingHeadModel(
            backbone, head, self.pooling, self.multi_label, None if weight is None else weight.to(device)
        )

    def _logits_of(self, module: EmbeddingHeadModel, texts: Sequence[str]) -> np.ndarray:
        """Raw scores of `module` (frozen: the base backbone's features through its head)."""
        module.eval()
        if module.backbone is None:
            return self._head_logits(module, self._features(self._base_backbone(), texts, "predicting"))
        return self._pool_texts(lambda batch: module(**batch)["logits"], texts, "predicting", module.backbone)

    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        return self._logits_of(self._inference_model(), texts)

    def _trained_module(self) -> nn.Module:
        return self.model_

    def _build_inference_model(self) -> EmbeddingHeadModel:
        """The trained backbone with LoRA merged (a copy), chained to the trained head itself."""
        if self.model_.backbone is None:  # a frozen backbone: features come from `_base_backbone`
            return self.model_.eval()
        backbone = self._merged(self.model_.backbone)
        if backbone is not self.model_.backbone:  # a copy of our own: it may attend per text
            attend_per_text(backbone)
        return EmbeddingHeadModel(backbone, self.model_.head, self.pooling, self.multi_label).eval()

    # ------------------------------------------------------------------ persistence
    def _save_weights(self, path: Path) -> None:
        from safetensors.torch import save_file

        save_file(
            {k: v.detach().cpu().contiguous() for k, v in self.model_.head.state_dict().items()},
            str(path / HEAD_FILE),
            metadata={"layer": str(self.layer_)},
        )
        self.tokenizer_.save_pretrained(path / TOKENIZER_DIR)
        if self.model_.backbone is not None:
            self.model_.backbone.save_pretrained(path / ADAPTER_DIR)

    def _load_weights(self, path: Path) -> None:
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path / HEAD_FILE), framework="pt") as f:
            self.layer_ = int(f.metadata()["layer"])
        self._load_tokenizer(str(path / TOKENIZER_DIR))
        if (path / ADAPTER_DIR).is_dir():
            from peft import PeftModel

            backbone = PeftModel.from_pretrained(
                self._load_backbone(self.layer_), path / ADAPTER_DIR, is_trainable=True
            )
            hidden = backbone.config.hidden_size
        else:
            backbone, hidden = None, self._base_backbone().config.hidden_size
        self.model_ = self._assemble(backbone, hidden, None, device=None if backbone else torch.device("cpu"))
        self.model_.head.load_state_dict(load_file(str(path / HEAD_FILE)))
        self.model_.eval()
