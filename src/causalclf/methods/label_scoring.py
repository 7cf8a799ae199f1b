"""Score labels by the log-likelihood of their responses after a prompt, from a cached prefix.

Each prompt is encoded once; its key/value cache is then gathered once per candidate
response, and every candidate of every prompt in the batch is scored in one forward pass
over the continuation tokens only.

Single-label: the score of label j is log p(response_j + end | prompt) (optionally divided
by its token count), so a softmax over labels is the model's own distribution over the
valid answers.

Multi-label: the score of label j is the log-odds of the probability that the answer
names j, with the model renormalised at each label step over the valid choices (as when
decoding is constrained to the label set). Exactly, that is a sum over 2^K label sets;
here the answer is read as a chain over labels, where the choice after label h (a later
label l, or the end) is conditioned on the prompt and h alone:

    P(first = j)   from log p(word_j | prompt), renormalised over the K words and "none"
    q(l | h)       from log p(", " word_l | prompt, word_h), renormalised over l > h and end
    P(j in answer) = P(first = j) + sum_{h<j} P(h in answer) q(j | h)

which costs K + 1 + K(K+1)/2 short continuations per document (45 for K = 8) against one
prompt encoding, and needs no approximation for K <= 2. A label that would come second in a list is thus
judged inside a list, as the model learnt to write it. On the toy multi-label task (K = 3)
this scored macro-F1 0.77 at P = 0.5, against 0.76 for the exact sum over label sets and
0.46 for log-odds of each label against "none" re-anchored at the labels kept. Thresholds
are then tuned on these probabilities; `length_normalize` applies to single-label scores.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from scipy.special import logit, logsumexp
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
    """(n_prompts, n_labels) scores: log-likelihoods (single-label) or marginal log-odds (multi-label)."""
    scorer = PrefixScorer(model, prompts, pad_id)
    n, k = len(prompts), tokens.n_labels
    if not multi_label:
        rows = [b for b in range(n) for _ in range(k)]
        conts = [tokens.encode([j]) for _ in range(n) for j in range(k)]
        return scorer.log_likelihood(rows, conts, length_normalize).reshape(n, k)
    conts = _chain_continuations(tokens)
    rows = [b for b in range(n) for _ in conts]
    ll = scorer.log_likelihood(rows, conts * n).reshape(n, len(conts))
    marginals = np.stack([_chain_marginals(row, k) for row in ll])
    eps = 1e-7  # keeps the log-odds finite; sigmoid gives the marginal back
    return logit(np.clip(marginals, eps, 1 - eps))


def _chain_continuations(tokens: ResponseTokens) -> list[list[int]]:
    """Each first word, "none" + end, then for each label h: h followed by each later label or the end."""
    k = tokens.n_labels
    conts = [list(seg) for seg in tokens.first] + [[*tokens.none, tokens.end]]
    for h in range(k):
        conts += [[*tokens.first[h], *tokens.after[l]] for l in range(h + 1, k)] + [[*tokens.first[h], tokens.end]]
    return conts


def _chain_marginals(ll: np.ndarray, k: int) -> np.ndarray:
    """P(j in answer) from the log-likelihoods of `_chain_continuations`, in that order."""
    start = ll[: k + 1] - logsumexp(ll[: k + 1])
    reach = np.exp(start[:k])
    pos = k + 1
    for h in range(k):  # reach[h] is complete here: only labels before h lead to it
        options = ll[pos: pos + k - h] - ll[h]  # log p(option | prompt, word_h)
        pos += k - h
        reach[h + 1:] += reach[h] * np.exp(options[:-1] - logsumexp(options))
    return reach
