"""How labels are written in a response, and how a written response is read back.

A `Verbalizer` maps each label of a `LabelSpace` to the word the model writes for it (its
name, a user mapping such as ``{"G": "physics"}``, or a letter/number code), writes a
multi-label answer as those words joined by a separator in label-space order (the empty
set as the "none" word), and parses free text back into labels. Parsing is forgiving
about case, whitespace, punctuation, separators and surrounding prose, and says so when
an answer maps to no label instead of guessing one.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from causalclf.data.labels import LabelSpace
from causalclf.errors import ConfigError

STYLES = ("name", "letters", "numbers")

_SPLIT = re.compile(r"\s*(?:[,;|\n]|\band\b)\s*")
_EDGE = string.punctuation + string.whitespace + "\u201c\u201d\u2018\u2019"


def normalize(text: str) -> str:
    """Casefolded, "_"/"-" as spaces, edge punctuation cut, whitespace runs as one space (or
    one newline, when they hold one: a newline may separate labels)."""
    text = re.sub(r"[_\-]+", " ", text.casefold())
    text = re.sub(r"\s+", lambda m: "\n" if "\n" in m.group() else " ", text)
    return text.strip(_EDGE)


def _code(style: str, index: int) -> str:
    if style == "letters":
        if index >= 26:
            raise ConfigError("the 'letters' verbalizer supports at most 26 labels; use 'numbers'")
        return string.ascii_uppercase[index]
    return str(index + 1)


@dataclass
class Verbalizer:
    """Label <-> response text for one label space.

    Build it with `Verbalizer.build(label_space, spec, ...)`; `spec` is "name", "letters",
    "numbers" or a ``{label: word}`` mapping (labels it leaves out keep their names).
    """

    label_space: LabelSpace
    words: list[str]
    """What the response says for each label, in label-space order."""
    separator: str = ", "
    """Joins the words of a multi-label response."""
    none_word: str = "none"
    """The response for an empty multi-label set."""
    descriptions: list[str] = field(default_factory=list)
    """How each label is listed in a prompt ("A: sport" for codes, else the word)."""
    _synonyms: dict[str, int] = field(init=False, repr=False)
    _prose: re.Pattern | None = field(init=False, repr=False)

    @classmethod
    def build(
        cls,
        label_space: LabelSpace,
        spec: str | Mapping[str, str] = "name",
        separator: str = ", ",
        none_word: str = "none",
    ) -> Verbalizer:
        names = label_space.names
        if isinstance(spec, Mapping):
            unknown = set(spec) - set(names)
            if unknown:
                raise ConfigError(f"the verbalizer maps unknown labels {sorted(unknown)}; labels are {names}")
            words = [str(spec.get(n, n)) for n in names]
            descriptions = list(words)
        elif spec == "name":
            words, descriptions = list(names), list(names)
        elif spec in ("letters", "numbers"):
            words = [_code(spec, i) for i in range(len(names))]
            descriptions = [f"{w}: {n}" for w, n in zip(words, names)]
        else:
            raise ConfigError(f"unknown verbalizer {spec!r}; use one of {STYLES} or a {{label: word}} mapping")
        return cls(label_space, words, separator, none_word, descriptions)

    def __post_init__(self) -> None:
        keys = [normalize(w) for w in self.words]
        if len(set(keys)) != len(keys) or "" in keys:
            raise ConfigError(f"verbalized labels must be distinct and non-empty after normalisation: {self.words}")
        if self.label_space.multi_label and normalize(self.none_word) in keys:
            raise ConfigError(f"the none word {self.none_word!r} is also a label's word")
        sep = self.separator.strip()
        if sep and any(sep in w for w in self.words):
            raise ConfigError(f"the separator {self.separator!r} occurs inside a verbalized label")
        # Earlier entries win: the verbalized word, then the label's own name.
        self._synonyms = {}
        for j, word in enumerate(self.words):
            self._synonyms.setdefault(normalize(word), j)
        for j, name in enumerate(self.label_space.names):
            self._synonyms.setdefault(normalize(name), j)
        # Only multi-character synonyms are looked for inside prose: a code such as "a" or
        # "1" would match ordinary words and numbers there.
        prose = sorted((s for s in self._synonyms if len(s) > 1), key=len, reverse=True)
        self._prose = re.compile(r"\b(" + "|".join(map(re.escape, prose)) + r")\b") if prose else None

    @property
    def multi_label(self) -> bool:
        return self.label_space.multi_label

    # ------------------------------------------------------------------ writing
    def segments(self, labels) -> list[str]:
        """The words of an answer in label-space order (``[none_word]`` for an empty set)."""
        if not self.multi_label:
            return [self.words[self.label_space.index(labels)]]
        ids = sorted({self.label_space.index(y) for y in labels})
        return [self.words[j] for j in ids] if ids else [self.none_word]

    def verbalize(self, labels) -> str:
        """The response text for one item's label (single) or labels (multi)."""
        return self.separator.join(self.segments(labels))

    def label_list(self) -> str:
        """The label space as listed in a prompt."""
        return ", ".join(self.descriptions)

    # ------------------------------------------------------------------ reading
    def parse(self, text: str):
        """Labels written in `text`, or None when it maps to no answer.

        Single-label: a label name, or None (several different labels are no answer).
        Multi-label: a list in label-space order; ``[]`` when the answer is the none word.
        Tried in turn: the whole answer, its separator-split pieces, the part after the
        last colon ("Answer: B"), then label words found anywhere in the prose (so words
        that name no label are ignored there: "film, weather" reads as film). Codes and other
        one-character words count only as a whole piece, never inside prose.
        """
        cleaned = normalize(text or "")
        if not cleaned:
            return None
        tail = cleaned.rsplit(":", 1)[1] if ":" in cleaned else None
        for candidate in (cleaned, tail):
            found = self._read_list(candidate) if candidate is not None else None
            if found is not None:
                return self._answer(found)
        return self._answer(self._read_prose(cleaned))

    def _read_list(self, text: str) -> set[int] | None:
        """Label ids when every separator-split piece is a label (or the none word)."""
        pieces = [normalize(p) for p in _SPLIT.split(text)]
        pieces = [p for p in pieces if p]
        if not pieces:
            return None
        ids: set[int] = set()
        for piece in pieces:
            if piece in self._synonyms:
                ids.add(self._synonyms[piece])
            elif not (self.multi_label and len(pieces) == 1 and piece == normalize(self.none_word)):
                return None
        return ids

    def _read_prose(self, text: str) -> set[int] | None:
        found = {self._synonyms[m] for m in self._prose.findall(text)} if self._prose else set()
        if found:
            return found
        none = normalize(self.none_word)
        if self.multi_label and re.search(r"\b" + re.escape(none) + r"\b", text):
            return set()
        return None

    def _answer(self, ids: set[int] | None):
        if ids is None:
            return None
        names = [self.label_space.names[j] for j in sorted(ids)]
        if self.multi_label:
            return names
        return names[0] if len(names) == 1 else None
