"""Reading a causal LM's representation from a block below the last.

For small LMs the last block's output is often not the best representation for a linear
head; middle blocks can classify better. Layer k's features are the residual stream after
block k passed through the model's final norm, which is exactly what the model computes
with its blocks above k removed. So a fixed layer is served by cutting those blocks (less
compute in training and inference, and a standard checkpoint on export), and choosing a
layer only needs every block's output from one forward pass.
"""
from __future__ import annotations

import torch
from torch import nn

from causalclf.config import ConfigError

from causalclf.methods.embedding_head.pooling import pool
from causalclf.methods.packing import backbone_inputs, unpacked

LAYER_LISTS = ("layers", "h", "blocks")
"""Attribute names of the block list in transformers' bare decoder models (Llama/Mistral/Qwen, GPT-2...)."""
FINAL_NORMS = ("norm", "ln_f", "final_layernorm", "final_layer_norm")


def _find(model: nn.Module, names: tuple[str, ...], what: str):
    for name in names:
        found = getattr(model, name, None)
        if found is not None:
            return name, found
    raise ConfigError(f"{type(model).__name__} has no {what} under any of {names}: "
                     "choosing a layer is not supported for this architecture")


def n_layers(backbone: nn.Module) -> int:
    return len(_find(backbone, LAYER_LISTS, "list of blocks")[1])


def resolve_layer(layer: int | None, total: int) -> int:
    """A layer index in 1..total: None is the last; negative counts from the end (-1 is the last)."""
    if layer is None:
        return total
    if isinstance(layer, bool) or not isinstance(layer, int):
        raise ValueError(f"layer must be an integer block index, 'best' or null, not {layer!r}")
    k = total + 1 + layer if layer < 0 else layer
    if not 1 <= k <= total:
        raise ConfigError(f"layer {layer} is out of range: this model has {total} blocks (1..{total}, or -1..-{total})")
    return k


def keep_layers(backbone: nn.Module, k: int) -> nn.Module:
    """Cut `backbone` (in place) after its first k blocks; the final norm stays."""
    name, blocks = _find(backbone, LAYER_LISTS, "list of blocks")
    if k < len(blocks):
        setattr(backbone, name, nn.ModuleList(list(blocks)[:k]))
        backbone.config.num_hidden_layers = k
    return backbone


def pooled_layers(backbone: nn.Module, batch: dict, pooling: str) -> torch.Tensor:
    """(n_layers, texts, hidden) fp32: every block's output on a padded or packed batch, through the
    final norm, pooled."""
    out = backbone(**backbone_inputs(batch, backbone), output_hidden_states=True)
    _, norm = _find(backbone, FINAL_NORMS, "final norm")
    states = out.hidden_states[1:]  # [0] is the token embeddings
    # transformers already returns the last block's output normed (== last_hidden_state)
    normed = [norm(h) for h in states[:-1]] + [states[-1]]
    return torch.stack([pool(unpacked(h, batch), batch["attention_mask"], pooling).float() for h in normed])
