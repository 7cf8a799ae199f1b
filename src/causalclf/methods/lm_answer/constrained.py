"""Decoding constrained to the label set: a token-level grammar of the valid responses.

Valid responses are those `ResponseTokens.encode` writes: one label (single-label), or
labels in strictly increasing label-space order joined by separators, or the none word
(multi-label), always followed by the end token. The grammar runs as a small
nondeterministic automaton over label segments (a segment may be a token prefix of
another), so it needs no enumeration of the 2^K label sets; `GrammarLogitsProcessor` masks
every token the automaton cannot take, which makes an invalid output impossible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch
from transformers import LogitsProcessor

from causalclf.methods.lm_answer.responses import ResponseTokens, Tokens

NONE = -1
"""Label index of the none segment."""


@dataclass(frozen=True)
class _Path:
    """One way of reading the tokens so far: labels done, and the segment being written."""

    done: tuple[int, ...]
    label: int
    segment: Tokens
    pos: int

    @property
    def complete(self) -> bool:
        return self.pos == len(self.segment)

    @property
    def labels(self) -> tuple[int, ...]:
        return self.done if self.label == NONE else self.done + (self.label,)


@dataclass(frozen=True)
class Finished:
    """The state after the end token: the labels the response named."""

    labels: tuple[int, ...]


class LabelGrammar:
    """Which tokens may come next in a valid response, and which labels a response names."""

    def __init__(self, tokens: ResponseTokens, multi_label: bool):
        self.tokens, self.multi_label = tokens, multi_label
        self.allowed = lru_cache(maxsize=None)(self._allowed)

    def start(self) -> frozenset:
        """The state before the first token: a set of `_Path`s."""
        paths = [_Path((), j, seg, 0) for j, seg in enumerate(self.tokens.first)]
        if self.multi_label:
            paths.append(_Path((), NONE, self.tokens.none, 0))
        return self._closure(paths)

    def _closure(self, paths) -> frozenset:
        """Add, after every complete label segment, the segments that may follow it."""
        out, todo = set(), list(paths)
        while todo:
            path = todo.pop()
            out.add(path)
            if path.complete and self.multi_label and path.label != NONE:
                todo += [
                    _Path(path.labels, i, self.tokens.after[i], 0) for i in range(path.label + 1, self.tokens.n_labels)
                ]
        return frozenset(out)

    def _allowed(self, state) -> tuple[int, ...]:
        if isinstance(state, Finished):
            return (self.tokens.end,)
        nxt = {p.segment[p.pos] for p in state if not p.complete}
        if any(p.complete for p in state):
            nxt.add(self.tokens.end)
        return tuple(sorted(nxt))

    def advance(self, state, token: int):
        """The state after writing `token` (which must be allowed)."""
        if isinstance(state, Finished):
            return state
        if token == self.tokens.end:
            ends = sorted((p.labels for p in state if p.complete), key=len)
            if not ends:
                raise ValueError("the end token is not allowed here")
            return Finished(ends[0])
        moved = [
            _Path(p.done, p.label, p.segment, p.pos + 1) for p in state if not p.complete and p.segment[p.pos] == token
        ]
        if not moved:
            raise ValueError(f"token {token} is not allowed here")
        return self._closure(moved)

    def read(self, response: Sequence[int]) -> tuple[int, ...] | None:
        """Label ids named by a token response (with or without its end token); None if invalid."""
        state = self.start()
        try:
            for token in list(response) + [self.tokens.end]:
                state = self.advance(state, int(token))
                if isinstance(state, Finished):
                    return state.labels
        except ValueError:
            return None
        return None


class GrammarLogitsProcessor(LogitsProcessor):
    """Masks, for each row of a batched generation, the tokens the grammar forbids."""

    def __init__(self, grammar: LabelGrammar, prompt_length: int, batch_size: int):
        self.grammar, self.prompt_length = grammar, prompt_length
        self.states = [grammar.start()] * batch_size

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] > self.prompt_length:
            last = input_ids[:, -1].tolist()
            self.states = [self.grammar.advance(s, t) for s, t in zip(self.states, last)]
        mask = torch.full_like(scores, float("-inf"))
        for row, state in enumerate(self.states):
            mask[row, list(self.grammar.allowed(state))] = 0.0
        return scores + mask
