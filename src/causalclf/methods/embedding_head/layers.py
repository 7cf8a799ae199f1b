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

from causalclf.errors import ConfigError
from causalclf.methods.embedding_head.pooling import pool
from causalclf.runtime.packing import backbone_inputs, unpacked

FINAL_NORMS = ("norm", "ln_f", "final_layernorm", "final_layer_norm")
"""Attribute names of the final norm beside the block list (Llama/Mistral/Qwen, GPT-2/Falcon, Phi, GPT-NeoX/OPT)."""


def _blocks(backbone: nn.Module) -> tuple[nn.Module, str, nn.ModuleList]:
    """(parent, attribute, list) of the backbone's blocks: the first list of ``config.num_hidden_layers`` modules,
    wherever the architecture keeps it (``layers``, ``h``, ``blocks``, OPT's ``decoder.layers``...)."""
    n = backbone.config.num_hidden_layers
    for name, module in backbone.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            parent, _, attribute = name.rpartition(".")
            return backbone.get_submodule(parent), attribute, module
    raise ConfigError(
        f"{type(backbone).__name__} has no list of its {n} blocks: choosing a layer is not supported "
        "for this architecture"
    )


def n_layers(backbone: nn.Module) -> int:
    return len(_blocks(backbone)[2])


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
    parent, attribute, blocks = _blocks(backbone)
    if k < len(blocks):
        setattr(parent, attribute, nn.ModuleList(list(blocks)[:k]))
        backbone.config.num_hidden_layers = k
    return backbone


def _final_norm(backbone: nn.Module) -> nn.Module:
    parent = _blocks(backbone)[0]
    for name in FINAL_NORMS:
        if isinstance(getattr(parent, name, None), nn.Module):
            return getattr(parent, name)
    raise ConfigError(
        f"{type(backbone).__name__} has no final norm under any of {FINAL_NORMS} beside its blocks: "
        "layer='best' is not supported for this architecture"
    )


def pooled_layers(backbone: nn.Module, batch: dict, pooling: str) -> torch.Tensor:
    """(n_layers, texts, hidden) fp32: every block's output on a padded or packed batch, through the
    final norm, pooled."""
    out = backbone(**backbone_inputs(batch, backbone), output_hidden_states=True)
    norm = _final_norm(backbone)
    states = out.hidden_states[1:]  # [0] is the token embeddings
    # transformers already returns the last block's output normed (== last_hidden_state)
    normed = [norm(h) for h in states[:-1]] + [states[-1]]
    return torch.stack([pool(unpacked(h, batch), batch["attention_mask"], pooling).float() for h in normed])
