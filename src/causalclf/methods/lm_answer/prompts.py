"""The prompt a causal LM answers: instruction, optional label list, the document, examples.

The user message comes from a template (a format string with ``{text}`` and ``{labels}``;
a default one otherwise). With a local tokenizer that has a chat template, the messages go
through ``apply_chat_template(..., add_generation_prompt=True)``; without one, a plain
"...\\nAnswer:\\n" layout is used. An endpoint gets the messages themselves.

The document is truncated on its own, token by token, before the prompt is built, so a
long document can never push the label list, the instruction or the response out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from causalclf.errors import ConfigError
from causalclf.methods.lm_answer.verbalizers import Verbalizer

SINGLE_LABEL_INSTRUCTION = (
    "Classify the text into one of these categories: {labels}.\nAnswer with the category only.\n\nText: {text}"
)
MULTI_LABEL_INSTRUCTION = (
    "Which of these categories apply to the text: {labels}?\n"
    'Answer with every matching category, separated by "{separator}", or "{none}" if none apply.'
    "\n\nText: {text}"
)
NO_LABELS_INSTRUCTION = "Classify the text.\n\nText: {text}"

PLAIN_ANSWER = "\nAnswer:\n"
"""Ends a prompt without chat template; the response starts on the next line."""

Shot = tuple[str, str]
"""A worked example: (document, response text)."""


@dataclass
class PromptFormat:
    """Turns documents into prompts for one verbalizer and tokenizer."""

    verbalizer: Verbalizer
    tokenizer: Any = None
    """The local model's tokenizer; None for an endpoint (no chat template, words counted)."""
    template: str | None = None
    """User message as a format string with {text} (and optionally {labels}, {separator},
    {none}); None picks the default for single-/multi-label, with or without labels."""
    show_labels: bool = True
    """List the label space in the default instruction."""
    max_length: int | None = None
    """Document tokens kept (whitespace-separated words without a tokenizer); None keeps all."""

    def __post_init__(self) -> None:
        if self.template is not None and "{text}" not in self.template:
            raise ConfigError("a prompt template needs a {text} field")

    @property
    def chat(self) -> bool:
        return self.tokenizer is not None and bool(getattr(self.tokenizer, "chat_template", None))

    def truncate(self, text: str) -> str:
        """The document cut to `max_length` tokens (unchanged when it fits)."""
        if self.max_length is None:
            return text
        if self.tokenizer is None:
            words = text.split()
            return text if len(words) <= self.max_length else " ".join(words[: self.max_length])
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= self.max_length:
            return text
        return self.tokenizer.decode(ids[: self.max_length], skip_special_tokens=True)

    def user_message(self, text: str) -> str:
        v = self.verbalizer
        if self.template is not None:
            template = self.template
        elif not self.show_labels:
            template = NO_LABELS_INSTRUCTION
        else:
            template = MULTI_LABEL_INSTRUCTION if v.multi_label else SINGLE_LABEL_INSTRUCTION
        return template.format_map(
            {
                "text": self.truncate(text),
                "labels": v.label_list(),
                "separator": v.separator.strip() or v.separator,
                "none": v.none_word,
            }
        )

    def messages(self, text: str, shots: Sequence[Shot] = ()) -> list[dict]:
        """Chat messages: each worked example as a user/assistant pair, then the document."""
        out: list[dict] = []
        for shot_text, response in shots:
            out += [
                {"role": "user", "content": self.user_message(shot_text)},
                {"role": "assistant", "content": response},
            ]
        return out + [{"role": "user", "content": self.user_message(text)}]

    def render(self, text: str, shots: Sequence[Shot] = ()) -> str:
        """The prompt string, ending where the response begins."""
        if self.chat:
            return self.tokenizer.apply_chat_template(
                self.messages(text, shots), tokenize=False, add_generation_prompt=True
            )
        end = self.tokenizer.eos_token if self.tokenizer is not None and self.tokenizer.eos_token else ""
        examples = "".join(self.user_message(t) + PLAIN_ANSWER + r + end + "\n\n" for t, r in shots)
        return examples + self.user_message(text) + PLAIN_ANSWER

    def encode(self, text: str, shots: Sequence[Shot] = ()) -> list[int]:
        """Prompt token ids (a chat template writes its own special tokens)."""
        return self.tokenizer(self.render(text, shots), add_special_tokens=not self.chat)["input_ids"]
