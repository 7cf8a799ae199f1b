"""Supervised fine-tuning rows: prompt + response, with the loss on the response only.

Labels are masked by position, never by token id: when pad == eos, an id-based mask (as in
`DataCollatorForLanguageModeling`) would also hide the response's own end token and the
model would never learn to stop. The causal LM shifts labels itself, so ``labels[t]`` is
the target of position t - 1.

The collator also tells the LM which positions the loss reads (transformers'
``logits_to_keep`` and ``shift_labels``), so the vocabulary projection and its softmax run
on a few response tokens instead of every prompt token: with a 49k-word vocabulary that
head is a fifth of a 135M model's matmuls, and its full logits dominate the memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch

IGNORE = -100
"""Label value the cross-entropy skips."""


def sft_row(prompt: Sequence[int], response: Sequence[int]) -> dict:
    """One training example; `response` already ends with the end token."""
    ids = list(prompt) + list(response)
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [IGNORE] * len(prompt) + list(response)}


def sft_collator(tokenizer):
    """Right-pads a batch of `sft_row`s: token fields through the tokenizer (attention 0 on padding),
    labels with `IGNORE` (transformers' `DataCollatorForSeq2Seq`), and the positions the loss reads
    (`loss_positions`)."""
    from transformers import DataCollatorForSeq2Seq

    if tokenizer.padding_side != "right":
        raise ValueError("SFT rows are padded on the right, where no response token sits")
    pad = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE, return_tensors="pt")
    return partial(_collate, pad)


def _collate(pad, rows: list[dict]) -> dict:
    batch = pad(rows)
    batch.update(loss_positions(batch["labels"]))
    return batch


def loss_positions(labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """``logits_to_keep``: per row, the positions whose next token is a target, padded with
    positions whose next token is not (so every row keeps as many); ``shift_labels``: those
    next tokens (`IGNORE` on the padding). The loss is then the one over full logits."""
    targets = torch.nn.functional.pad(labels[:, 1:], (0, 1), value=IGNORE)
    scored = targets != IGNORE
    width = max(int(scored.sum(1).max()), 1)
    # A stable sort puts each row's scored positions first, in order, then its unscored ones.
    keep = torch.sort((~scored).to(torch.int8), dim=1, stable=True).indices[:, :width]
    return {"logits_to_keep": keep, "shift_labels": targets.gather(1, keep)}
