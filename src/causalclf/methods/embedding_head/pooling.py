"""Pool token hidden states into one vector per sequence, using the attention mask.

Mask-aware, so results do not depend on padding side or on whether pad == eos.
"""

from __future__ import annotations

import torch

POOLING_MODES = ("last", "mean", "max")


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of the last real token of each row, for left or right padding.

    Taken from the mask, never from token ids: when pad == eos an id search would stop at
    a genuine eos inside the text, or at padding.
    """
    length = attention_mask.shape[1]
    positions = torch.arange(length, device=attention_mask.device).expand_as(attention_mask)
    return (positions * attention_mask.long()).amax(dim=1)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str = "last") -> torch.Tensor:
    """(batch, seq, dim) hidden states -> (batch, dim)."""
    if mode == "last":
        idx = last_token_index(attention_mask)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), idx]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "mean":
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    if mode == "max":
        return hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).amax(dim=1)
    raise ValueError(f"unknown pooling {mode!r}; choose one of {POOLING_MODES}")
