"""Tokenize, pad and batch texts for the transformer methods (shared by every one of them).

Training rows are plain dicts (``input_ids``, ``attention_mask`` plus whatever targets a
method trains on); inference runs longest-first, so each batch pads to similar lengths,
and hands the results back in the caller's order. Batches hold `batch_size` texts, or, with a
token budget (`max_batch_tokens`), as many as fit it once padded: a batch's memory then depends on
the budget alone, never on how long the texts happen to be.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def batch_indices(lengths: Sequence[int], batch_size: int, max_batch_tokens: int | None = None) -> list[np.ndarray]:
    """Positions of each batch, longest texts first: `batch_size` at a time, or, with
    `max_batch_tokens`, as many as keep (longest length in the batch) x (batch size) within it."""
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    if max_batch_tokens is None:
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if len(order) and lengths[order[0]] > max_batch_tokens:
        raise ValueError(
            f"a text of {lengths[order[0]]} tokens does not fit max_batch_tokens={max_batch_tokens}; "
            "set it to at least max_length"
        )
    batches, start = [], 0
    while start < len(order):
        size = max_batch_tokens // max(int(lengths[order[start]]), 1)  # the first of a batch is its longest
        batches.append(order[start : start + size])
        start += size
    return batches


def batched(
    fn: Callable[[dict], torch.Tensor],
    rows: list[dict],
    collate_fn: Callable[[list[dict]], dict],
    batch_size: int,
    desc: str,
    device: torch.device,
    max_batch_tokens: int | None = None,
) -> np.ndarray:
    """Run `fn(batch)` over encoded rows in `batch_indices` batches, collated by `collate_fn` and moved to
    `device`; `fn` returns one row per text of the batch. Results come back in the order of `rows`."""
    from tqdm.auto import tqdm

    batches = batch_indices([len(r["input_ids"]) for r in rows], batch_size, max_batch_tokens)
    out: list[np.ndarray] = [None] * len(rows)  # type: ignore[list-item]
    with torch.no_grad():
        # leave=False: a caller predicting chunk after chunk (causalclf predict) keeps one bar of its own
        for idx in tqdm(batches, desc=desc, disable=len(batches) <= 1, unit="batch", leave=False):
            batch = {k: v.to(device) for k, v in collate_fn([rows[i] for i in idx]).items()}
            values = fn(batch)
            for j, i in enumerate(idx):
                out[i] = values[j].float().cpu().numpy()
    return np.stack(out)
