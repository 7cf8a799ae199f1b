"""A local causal LM answering classification prompts: by scoring labels, or by writing an answer.

Shared by the instruction-tuned classifier (after SFT) and the prompting classifier (a
frozen model): both build prompts the same way, score labels from a cached prefix, and
read answers back through the same verbalizer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from causalclf.methods.lm_answer.constrained import LabelGrammar
from causalclf.methods.lm_answer.decoding import greedy_decode
from causalclf.methods.lm_answer.label_scoring import label_scores
from causalclf.methods.lm_answer.prompts import PromptFormat, Shot
from causalclf.methods.lm_answer.responses import ResponseTokens
from causalclf.methods.lm_answer.verbalizers import Verbalizer

GENERATION_SLACK = 8
"""Tokens allowed beyond the longest valid answer when generating freely (room to ramble a
little and still be parsed, without paying for long essays)."""


@dataclass
class LMLabeler:
    """Prompts, scores and decodes with one model, tokenizer and verbalizer."""

    model: Any
    tokenizer: Any
    verbalizer: Verbalizer
    prompt: PromptFormat
    batch_size: int = 8
    """Documents per forward pass (their label continuations go with them)."""
    length_normalize: bool = False
    """Score a single-label response by its mean token log-prob instead of the sum."""
    tokens: ResponseTokens = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = ResponseTokens.build(self.verbalizer, self.tokenizer)

    @property
    def multi_label(self) -> bool:
        return self.verbalizer.multi_label

    def prompt_ids(self, texts: Sequence[str], shots: Sequence[Shot] = ()) -> list[list[int]]:
        for i, t in enumerate(texts):
            if not isinstance(t, str) or not t.strip():
                raise ValueError(f"text {i} is empty or not a string: {t!r}")
        return [self.prompt.encode(t, shots) for t in texts]

    def scores(self, texts: Sequence[str], shots: Sequence[Shot] = ()) -> np.ndarray:
        """(n, n_labels) label scores; see `label_scoring` for what they mean."""
        fn = lambda prompts: label_scores(  # noqa: E731
            self.model, prompts, self.tokens, self.multi_label, self.tokenizer.pad_token_id, self.length_normalize
        )
        return np.stack(self._in_batches(self.prompt_ids(texts, shots), fn, "scoring"))

    def decode(
        self, texts: Sequence[str], constrained: bool, max_new_tokens: int | None = None, shots: Sequence[Shot] = ()
    ) -> tuple[list, list[str]]:
        """Greedy answers: (labels, or None where the answer names no label; the response texts).

        Constrained answers are read off the grammar (always valid); free ones are parsed.
        """
        grammar = LabelGrammar(self.tokens, self.multi_label) if constrained else None
        longest = self.tokens.max_length(self.multi_label)
        budget = longest if constrained else (max_new_tokens or longest + GENERATION_SLACK)
        fn = lambda prompts: greedy_decode(  # noqa: E731
            self.model, prompts, self.tokens.end, self.tokenizer.pad_token_id, budget, grammar
        )
        responses = self._in_batches(self.prompt_ids(texts, shots), fn, "generating")
        texts_out = [self.tokenizer.decode(r, skip_special_tokens=True) for r in responses]
        if grammar is None:
            return [self.verbalizer.parse(t) for t in texts_out], texts_out
        return [self._names(grammar.read(r)) for r in responses], texts_out

    def _names(self, ids: tuple[int, ...] | None):
        if ids is None:
            return None
        names = [self.verbalizer.label_space.names[j] for j in ids]
        return names if self.multi_label else names[0]

    def _in_batches(self, prompts: list[list[int]], fn: Callable[[list[list[int]]], Sequence], desc: str) -> list:
        """`fn` over batches of prompts, longest first (little padding), results in input order."""
        from tqdm.auto import tqdm

        order = np.argsort([-len(p) for p in prompts], kind="stable")
        out: list = [None] * len(prompts)
        for start in tqdm(
            range(0, len(prompts), self.batch_size), desc=desc, unit="batch", disable=len(prompts) <= self.batch_size
        ):
            idx = order[start : start + self.batch_size]
            for i, value in zip(idx, fn([prompts[i] for i in idx])):
                out[i] = value
        return out


class Answering:
    """How a classifier with `AnswerParams` (and ``label_space_``, ``max_length`` and ``batch_size``) asks its
    LM and reads the answer: instruction tuning and prompting mix it in."""

    def _verbalizer(self) -> Verbalizer:
        return Verbalizer.build(self.label_space_, self.verbalizer, self.label_separator, self.none_label)

    def _prompt_format(self, verbalizer: Verbalizer, tokenizer) -> PromptFormat:
        return PromptFormat(verbalizer, tokenizer, self.prompt_template, self.show_labels, self.max_length)

    def _labeler(self, model, tokenizer) -> LMLabeler:
        """The prompt/answer machinery around `model` (None builds prompts and answer tokens only)."""
        verbalizer = self._verbalizer()
        return LMLabeler(
            model,
            tokenizer,
            verbalizer,
            self._prompt_format(verbalizer, tokenizer),
            self.batch_size,
            self.length_normalize,
        )
