"""Score labels by the log-likelihood of their responses after a prompt, from a cached prefix.

Each prompt is encoded once; its key/value cache is then gathered once per candidate
response, and every candidate of every prompt in the batch is scored in one forward pass
over the continuation tokens only.

Single-label: the score of label j is log p(response_j + end | prompt) (optionally divided
by its token count), so a softmax over labels is the model's own distribution over the
valid answers.

Multi-label: the score of label j is a log-odds, log p(A + {j}) - log p(A - {j}), of the
canonical response with j against the one without it, all other labels held at an anchor
set A. The anchor is found by a first pass with A = {} (label j alone against "none"); the
second pass re-anchors at the labels that pass kept. Thus a label that usually comes
second in a list is still judged inside a list, as the model was trained to write it, not
as an unlikely one-word answer; and a score of 0 (sigmoid 0.5) is "the answer is more
likely with j than without", which is where tuned thresholds start from. Cost: 2(K+1)
short continuations per document, against one prompt encoding.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from transformers import DynamicCache

from causalclf.methods.responses import ResponseTokens

MAX_CONTINUATION_ROWS = 64
"""Continuations per forward pass: bounds the memory of the gathered caches."""


def left_pad(seqs: Sequence[Sequence[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids and attention mask: every prompt then ends at the same column."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if len(s):
            ids[i, width - len(s):] = torch.as_tensor(list(s))
            mask[i, width - len(s):] = 1
    return ids.to(device), mask.to(device)


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 on each row's first real token (left padding aware)."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


class PrefixScorer:
    """A batch of encoded prompts whose caches score any token continuations."""

    def __init__(self, model, prompts: Sequence[Sequence[int]], pad_id: int):
        self.model = model
        device = next(model.parameters()).device
        self.ids, self.mask = left_pad(prompts, pad_id, device)
        with torch.no_grad():
            out = model(input_ids=self.ids, attention_mask=self.mask, position_ids=positions(self.mask),
                        use_cache=True, logits_to_keep=1)
        self.kv = [(layer.keys, layer.values) for layer in out.cache.layers]
        self.next_logp = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
        self.lengths = self.mask.sum(-1)

    def log_likelihood(self, rows: Sequence[int], continuations: Sequence[Sequence[int]],
                       normalize: bool = False) -> np.ndarray:
        """Summed (or mean, with `normalize`) log-prob of `continuations[i]` after prompt `rows[i]`."""
        out = np.empty(len(rows))
        for start in range(0, len(rows), MAX_CONTINUATION_ROWS):
            chunk = slice(start, start + MAX_CONTINUATION_ROWS)
            out[chunk] = self._chunk(list(rows[chunk]), list(continuations[chunk]), normalize)
        return out

    def _chunk(self, rows: list[int], conts: list[list[int]], normalize: bool) -> np.ndarray:
        device = self.ids.device
        index = torch.as_tensor(rows, device=device)
        n_tokens = torch.as_tensor([len(c) for c in conts], device=device, dtype=torch.float64)
        first = torch.as_tensor([c[0] for c in conts], device=device)
        total = self.next_logp[index, first].double()
        width = max(len(c) for c in conts) - 1
        if width > 0:  # tokens after the first need the model once more, fed from the cache
            inputs = torch.zeros((len(rows), width), dtype=torch.long, device=device)
            targets = torch.zeros_like(inputs)
            valid = torch.zeros_like(inputs, dtype=torch.bool)
            for i, c in enumerate(conts):
                inputs[i, : len(c) - 1] = torch.as_tensor(c[:-1])
                targets[i, : len(c) - 1] = torch.as_tensor(c[1:])
                valid[i, : len(c) - 1] = True
            cache = DynamicCache([(k.index_select(0, index), v.index_select(0, index)) for k, v in self.kv])
            mask = torch.cat([self.mask.index_select(0, index), valid.long()], dim=1)
            pos = self.lengths.index_select(0, index)[:, None] + torch.arange(width, device=device)[None, :]
            with torch.no_grad():
                logits = self.model(input_ids=inputs, attention_mask=mask, position_ids=pos,
                                    cache=cache, use_cache=True).logits
            logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets[..., None])[..., 0]
            total = total + (logp * valid).sum(-1).double()
        if normalize:
            total = total / n_tokens
        return total.cpu().numpy()


def label_scores(model, prompts: Sequence[Sequence[int]], tokens: ResponseTokens, multi_label: bool,
                 pad_id: int, length_normalize: bool = False) -> np.ndarray:
    """(n_prompts, n_labels) scores: log-likelihoods (single-label) or log-odds (multi-label)."""
    scorer = PrefixScorer(model, prompts, pad_id)
    n, k = len(prompts), tokens.n_labels
    if not multi_label:
        rows = [b for b in range(n) for _ in range(k)]
        conts = [tokens.encode([j]) for _ in range(n) for j in range(k)]
        return scorer.log_likelihood(rows, conts, length_normalize).reshape(n, k)
    first = _log_odds(scorer, tokens, [set() for _ in range(n)], length_normalize)
    anchors = [set(np.flatnonzero(row > 0).tolist()) for row in first]
    return _log_odds(scorer, tokens, anchors, length_normalize)


def _log_odds(scorer: PrefixScorer, tokens: ResponseTokens, anchors: list[set[int]], normalize: bool) -> np.ndarray:
    """log p(A + {j}) - log p(A - {j}) for every prompt's anchor A and every label j."""
    k = tokens.n_labels
    rows, conts = [], []
    for b, anchor in enumerate(anchors):
        rows += [b] * (k + 1)
        conts += [tokens.encode(anchor)] + [tokens.encode(anchor ^ {j}) for j in range(k)]
    ll = scorer.log_likelihood(rows, conts, normalize).reshape(len(anchors), k + 1)
    base, toggled = ll[:, :1], ll[:, 1:]
    inside = np.array([[j in a for j in range(k)] for a in anchors])
    return np.where(inside, base - toggled, toggled - base)
