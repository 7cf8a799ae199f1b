"""`Record`: one input row as a reader returns it, knowing its file and row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from causalclf.data.report import RowIssue

EXCLUDED = "excluded"
"""Split key for records that a source's own split leaves out (counted, not used)."""


@dataclass
class Record:
    """One input row: its fields, and where it came from."""

    fields: dict[str, Any]
    file: str
    row: int | None
    unit: str
    id: str
    problem: RowIssue | None = None
    """Set when the row could not be parsed; `fields` is then empty."""
    note: str | None = None
    """Something worth counting in the load report that does not make the row bad (e.g. an empty body)."""

    def issue(self, column: str | None, reason: str) -> RowIssue:
        return RowIssue(self.file, self.row, column, reason, self.unit)
