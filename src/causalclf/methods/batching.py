"""Tokenize, pad and batch texts for the transformer methods (shared by every one of them).

Training rows are plain dicts (``input_ids``, ``attention_mask`` plus whatever targets a
method trains on); inference runs longest-first, so each batch pads to similar lengths,
and hands the results back in the caller's order.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

TOKEN_KEYS = ("input_ids", "attention_mask")


class Rows(torch.utils.data.Dataset):
    """A list of feature dicts as a map-style dataset (what the Trainer iterates)."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def encode_texts(tokenizer, texts: Sequence[str], max_length: int) -> list[dict]:
    """One ``{input_ids, attention_mask}`` row per text, truncated to `max_length` tokens."""
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"text {i} is empty or not a string: {t!r}")
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    return [{"input_ids": ids, "attention_mask": m} for ids, m in zip(enc["input_ids"], enc["attention_mask"])]


def collate(tokenizer, rows: list[dict]) -> dict:
    """Pad the token fields of `rows` and stack every other field into a tensor."""
    batch: dict = {}
    if TOKEN_KEYS[0] in rows[0]:
        batch.update(tokenizer.pad([{k: r[k] for k in TOKEN_KEYS} for r in rows], return_tensors="pt"))
    for key in rows[0].keys() - set(TOKEN_KEYS):
        values = [r[key] for r in rows]
        batch[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else torch.as_tensor(np.stack(values))
    return batch


def batched(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], rows: list[dict],
            collate_fn: Callable[[list[dict]], dict], batch_size: int, desc: str,
            device: torch.device) -> np.ndarray:
    """Run `fn(input_ids, attention_mask)` over encoded rows, longest first, returned in order."""
    from tqdm.auto import tqdm

    order = np.argsort([-len(r["input_ids"]) for r in rows], kind="stable")
    out: list[np.ndarray] = [None] * len(rows)  # type: ignore[list-item]
    with torch.no_grad():
        for start in tqdm(range(0, len(rows), batch_size), desc=desc, disable=len(rows) <= batch_size,
                          unit="batch"):
            idx = order[start:start + batch_size]
            batch = collate_fn([rows[i] for i in idx])
            values = fn(batch["input_ids"].to(device), batch["attention_mask"].to(device))
            for j, i in enumerate(idx):
                out[i] = values[j].float().cpu().numpy()
    return np.stack(out)
