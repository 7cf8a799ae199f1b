"""Responses as token sequences: what SFT trains on, scoring scores and decoding may write.

A response is built from per-label segments, so training, scoring and constrained decoding
agree token for token: the first label's word, then each further label as the separator
plus its word tokenized together (", blue" keeps the natural leading-space token), then
the end token. The empty multi-label answer is the none word plus the end token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from causalclf.errors import ConfigError
from causalclf.methods.lm_answer.verbalizers import Verbalizer

Tokens = tuple[int, ...]


@dataclass(frozen=True)
class ResponseTokens:
    """Token segments of every label for one verbalizer and tokenizer."""

    first: tuple[Tokens, ...]
    """Label j written first (or alone)."""
    after: tuple[Tokens, ...]
    """Label j written after another label: separator + word."""
    none: Tokens
    """The empty multi-label answer (unused for single-label)."""
    end: int
    """Ends every response: the model learns to stop here."""

    @classmethod
    def build(cls, verbalizer: Verbalizer, tokenizer) -> ResponseTokens:
        if tokenizer.eos_token_id is None:
            raise ConfigError("the tokenizer has no eos token to end a response with")

        def ids(text: str) -> Tokens:
            out = tuple(tokenizer(text, add_special_tokens=False)["input_ids"])
            if not out:
                raise ConfigError(f"the verbalized label {text!r} tokenizes to nothing")
            return out

        first = tuple(ids(w) for w in verbalizer.words)
        if len(set(first)) != len(first):
            raise ConfigError(
                f"some labels tokenize identically (unknown words?): {verbalizer.words}; "
                "set verbalizer: letters or numbers, or map them to distinct words"
            )
        return cls(
            first=first,
            after=tuple(ids(verbalizer.separator + w) for w in verbalizer.words),
            none=ids(verbalizer.none_word),
            end=int(tokenizer.eos_token_id),
        )

    @property
    def n_labels(self) -> int:
        return len(self.first)

    def encode(self, label_ids: Sequence[int]) -> list[int]:
        """The response for a set of label ids (written in label-space order), end token included."""
        ids = sorted(set(int(j) for j in label_ids))
        if not ids:
            return [*self.none, self.end]
        out = list(self.first[ids[0]])
        for j in ids[1:]:
            out += self.after[j]
        return out + [self.end]

    def max_length(self, multi_label: bool) -> int:
        """Tokens in the longest valid response, end token included."""
        longest = max(map(len, self.first))
        if multi_label:
            longest = max(longest + sum(map(len, self.after)), len(self.none))
        return longest + 1
