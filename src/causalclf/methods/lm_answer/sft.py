"""Supervised fine-tuning rows: prompt + response, with the loss on the response only.

Labels are masked by position, never by token id: when pad == eos, an id-based mask (as in
`DataCollatorForLanguageModeling`) would also hide the response's own end token and the
model would never learn to stop. The causal LM shifts labels itself, so ``labels[t]`` is
the target of position t - 1.
"""
from __future__ import annotations

from typing import Sequence

IGNORE = -100
"""Label value the cross-entropy skips."""


def sft_row(prompt: Sequence[int], response: Sequence[int]) -> dict:
    """One training example; `response` already ends with the end token."""
    ids = list(prompt) + list(response)
    return {"input_ids": ids, "attention_mask": [1] * len(ids),
            "labels": [IGNORE] * len(prompt) + list(response)}


def sft_collator(tokenizer):
    """Right-pads a batch of `sft_row`s: token fields through the tokenizer (attention 0 on padding),
    labels with `IGNORE` (transformers' `DataCollatorForSeq2Seq`)."""
    from transformers import DataCollatorForSeq2Seq

    if tokenizer.padding_side != "right":
        raise ValueError("SFT rows are padded on the right, where no response token sits")
    return DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE, return_tensors="pt")
