"""The head, and the module chaining backbone -> pooling -> head that training and inference run."""

from __future__ import annotations

import torch
from torch import nn

from causalclf.methods.embedding_head.pooling import pool
from causalclf.runtime.packing import backbone_inputs, unpacked

HEADS = ("linear", "mlp")


def build_head(
    kind: str, hidden: int, n_labels: int, mlp_hidden: int = 256, dropout: float = 0.1, bias: bool = False
) -> nn.Module:
    """A linear head, or a 2-layer MLP (Linear-GELU-Dropout-Linear); always fp32.

    The output layer starts at zero: causal-LM hidden states have a few dimensions of
    magnitude ~15 (smollm2-135m), so a randomly initialised output layer starts with
    confident, arbitrary logits (initial loss above log K) that the first updates must undo.
    """
    if kind == "linear":
        layers = [nn.Dropout(dropout), nn.Linear(hidden, n_labels, bias=bias)]
    elif kind == "mlp":
        layers = [
            nn.Dropout(dropout),
            nn.Linear(hidden, mlp_hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_hidden, n_labels, bias=bias),
        ]
    else:
        raise ValueError(f"unknown head {kind!r}; use one of {HEADS}")
    nn.init.zeros_(layers[-1].weight)
    if bias:
        nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


def pooled_features(backbone: nn.Module, batch: dict, pooling: str) -> torch.Tensor:
    """The backbone's last hidden layer on a padded or packed batch, pooled to one fp32 vector per text."""
    hidden = unpacked(backbone(**backbone_inputs(batch, backbone)).last_hidden_state, batch)
    return pool(hidden, batch["attention_mask"], pooling).float()


class EmbeddingHeadModel(nn.Module):
    """backbone -> pooling -> fp32 head -> logits (+ loss when labels are given).

    `features` short-circuits the backbone: a frozen backbone's pooled vectors are
    computed once and the head trains on them directly (the backbone is then None).
    """

    def __init__(
        self,
        backbone: nn.Module | None,
        head: nn.Module,
        pooling: str,
        multi_label: bool,
        loss_weight: torch.Tensor | None = None,
    ):
        super().__init__()
        self.backbone, self.head, self.pooling, self.multi_label = backbone, head, pooling, multi_label
        self.register_buffer("loss_weight", loss_weight, persistent=False)

    def forward(
        self, input_ids=None, attention_mask=None, features=None, labels=None, position_ids=None, token_index=None
    ):
        if features is None:
            batch = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_index is not None:  # a packed batch (`causalclf.runtime.packing`)
                batch.update(position_ids=position_ids, token_index=token_index)
            features = pooled_features(self.backbone, batch, self.pooling)
        weight = next(self.head.parameters())  # fp32, unless an engine (DeepSpeed bf16) cast the whole module
        logits = self.head(features.to(device=weight.device, dtype=weight.dtype))
        loss = None
        if labels is not None:
            if self.multi_label:
                loss = nn.functional.binary_cross_entropy_with_logits(
                    logits, labels.float(), pos_weight=self.loss_weight
                )
            else:
                loss = nn.functional.cross_entropy(logits, labels.long(), weight=self.loss_weight)
        return {"loss": loss, "logits": logits}
