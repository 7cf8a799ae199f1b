"""Supervised fine-tuning rows: prompt + response, with the loss on the response only.

Labels are masked by position, never by token id: when pad == eos, an id-based mask (as in
`DataCollatorForLanguageModeling`) would also hide the response's own end token and the
model would never learn to stop. The causal LM shifts labels itself, so ``labels[t]`` is
the target of position t - 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

IGNORE = -100
"""Label value the cross-entropy skips."""


def sft_row(prompt: Sequence[int], response: Sequence[int]) -> dict:
    """One training example; `response` already ends with the end token."""
    ids = list(prompt) + list(response)
    return {"input_ids": ids, "attention_mask": [1] * len(ids),
            "labels": [IGNORE] * len(prompt) + list(response)}


@dataclass
class SFTCollator:
    """Right-pads a batch of `sft_row`s; padding gets attention 0 and label `IGNORE`."""

    pad_id: int

    def __call__(self, rows: list[dict]) -> dict:
        width = max(len(r["input_ids"]) for r in rows)
        batch = {
            "input_ids": torch.full((len(rows), width), self.pad_id, dtype=torch.long),
            "attention_mask": torch.zeros((len(rows), width), dtype=torch.long),
            "labels": torch.full((len(rows), width), IGNORE, dtype=torch.long),
        }
        for i, row in enumerate(rows):
            for key, tensor in batch.items():
                tensor[i, : len(row[key])] = torch.as_tensor(row[key])
        return batch
