"""What a load did to the input: rows read, kept, skipped (with where and why), deduplicated."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from causalclf.errors import UserError

logger = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]


@dataclass(frozen=True)
class RowIssue:
    """One problem with one input row, located as a person would find it in the file."""

    file: str
    """The file (or folder entry) the row came from."""
    row: int | None
    """1-based position: the line where the record starts in text files (a header is line 1),
    the record number in parquet / Arrow data; None where the file is the record."""
    column: str | None
    """The column (field) at fault, when one is."""
    reason: str
    """What is wrong, in words."""
    unit: str = "line"
    """How `row` counts: "line" for text files, "row" for parquet / Arrow, "record" for a JSON array."""

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"{self.unit} {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.reason}"


class DataError(UserError, ValueError):
    """Input data that causalclf will not guess about; `issue` locates it when a row is at fault."""

    def __init__(self, message: str, issue: RowIssue | None = None):
        super().__init__(message)
        self.issue = issue

    @classmethod
    def from_issue(cls, issue: RowIssue, hint: str = "") -> DataError:
        return cls(f"{issue}{hint}", issue)


@dataclass
class LoadReport:
    """Accounts for every input row:
    rows_read = rows_kept + skipped + duplicates + leaked_from_train + excluded + dropped_by_top_k + limit."""

    rows_read: int = 0
    """Records the readers met (blank lines are not records)."""
    rows_kept: int = 0
    """Records in the returned splits."""
    skipped: list[RowIssue] = field(default_factory=list)
    """Rows left out under ``on_error="skip"``, each with its location and reason."""
    duplicates_dropped: int = 0
    """Rows whose text exactly repeated an earlier row's of the same split (the first occurrence is kept)."""
    leaked_from_train: list[str] = field(default_factory=list)
    """Ids of the training rows whose text is also in a given validation or test split: dropped from train,
    where the held-out split would otherwise test the model on a text it learned."""
    excluded: int = 0
    """Rows that the source's own split leaves out (e.g. Reuters documents outside ModApte)."""
    dropped_by_top_k: int = 0
    """Multi-label rows left with no label once only the `top_k` most frequent labels were kept."""
    labels_dropped: list[str] = field(default_factory=list)
    """Labels removed by `top_k`."""
    dropped_by_limit: int = 0
    """Rows left out by ``limit`` (a seeded stratified sample)."""
    split: str | None = None
    """How causalclf split the data, when it did (fractions, seed, stratification)."""
    notes: list[str] = field(default_factory=list)
    """What else a reader of the results should know about this data."""
    recoded: list[RowIssue] = field(default_factory=list)
    """Fields that were not valid in the configured encoding and were decoded with the fallback."""

    def summary(self) -> str:
        parts = [f"read {plural(self.rows_read, 'row')}, kept {self.rows_kept:,}"]
        if self.duplicates_dropped:
            parts.append(f"{plural(self.duplicates_dropped, 'exact duplicate text')} dropped")
        if self.leaked_from_train:
            named = ", ".join(self.leaked_from_train[:5])
            more = ", ..." if len(self.leaked_from_train) > 5 else ""
            parts.append(
                f"{plural(len(self.leaked_from_train), 'training text')} also in the validation or test "
                f"split dropped from train ({named}{more}); those splits are kept as given"
            )
        if self.skipped:
            parts.append(f"{plural(len(self.skipped), 'bad row')} skipped")
        if self.excluded:
            parts.append(f"{plural(self.excluded, 'row')} outside the source's split left out")
        if self.dropped_by_top_k or self.labels_dropped:
            parts.append(
                f"top_k dropped {plural(len(self.labels_dropped), 'label')} and "
                f"{plural(self.dropped_by_top_k, 'row')} left with none of the kept labels"
            )
        if self.dropped_by_limit:
            parts.append(f"{plural(self.dropped_by_limit, 'row')} left out by limit")
        if self.recoded:
            parts.append(f"{plural(len(self.recoded), 'field')} decoded with the fallback encoding")
        if self.split:
            parts.append(self.split)
        return "; ".join(parts + self.notes)


class RowErrors:
    """Applies the ``on_error`` policy: raise at the first bad row, or record it and go on."""

    def __init__(self, on_error: OnError, report: LoadReport):
        self.on_error = on_error
        self.report = report

    def __call__(self, issue: RowIssue) -> None:
        if self.on_error == "raise":
            raise DataError.from_issue(
                issue,
                " (on_error='skip', or `causalclf predict --on-error skip`, skips such rows "
                "and lists them in the report)",
            )
        self.report.skipped.append(issue)

    def log_summary(self) -> None:
        if self.report.skipped:
            shown = "; ".join(str(i) for i in self.report.skipped[:3])
            more = " ..." if len(self.report.skipped) > 3 else ""
            logger.warning(
                "skipped %s (on_error='skip'): %s%s", plural(len(self.report.skipped), "bad row"), shown, more
            )


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
