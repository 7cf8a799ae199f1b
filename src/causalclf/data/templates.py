"""`TextTemplate`: a column name, or a template such as "{title}\\n{abstract}" over several."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from causalclf.data.report import DataError


@dataclass(frozen=True)
class TextTemplate:
    """Builds one text from a record's fields; a spec without braces names a single column."""

    spec: str
    fields: tuple[str, ...] = field(init=False)
    """The columns the template reads, in order of first use."""

    def __post_init__(self) -> None:
        if "{" not in self.spec and "}" not in self.spec:
            names = [self.spec]
        else:
            try:
                parsed = list(string.Formatter().parse(self.spec))
            except ValueError as e:
                raise DataError(f"text template {self.spec!r} is malformed: {e}") from None
            names = [name for _, name, _, _ in parsed if name is not None]
            bad = [n for n in names if not n or n.isdigit() or any(c in n for c in ".[")]
            if bad or not names:
                raise DataError(
                    f"text template {self.spec!r} must name columns, e.g. '{{title}}\\n{{abstract}}' "
                    "(write '{{' or '}}' for literal braces)"
                )
        object.__setattr__(self, "fields", tuple(dict.fromkeys(names)))

    @property
    def is_column(self) -> bool:
        return self.fields == (self.spec,)

    def render(self, values: Mapping[str, Any]) -> str:
        """`values` must hold every field; None counts as an empty string."""
        if self.is_column:
            return _as_text(values[self.spec])
        return self.spec.format_map({f: _as_text(values[f]) for f in self.fields})


def _as_text(value: Any) -> str:
    return "" if value is None else str(value)
