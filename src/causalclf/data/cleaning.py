"""Light text clean-ups that named datasets apply before duplicates are looked for."""

from __future__ import annotations

import re

_SPACES = re.compile(r"[^\S\n]+")  # runs of whitespace other than newlines
_BLANK_LINES = re.compile(r"\n\s*\n\s*")


def normalize_whitespace(text: str) -> str:
    """Collapses runs of spaces/tabs and of blank lines, and trims each line; paragraphs stay apart."""
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()
