"""What a dataset argument may be: a named dataset (`NAMED`), an existing path, or a mapping of `DataConfig`
keys; `check_data` checks one before anything loads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from causalclf.data.bundled import bbc_news
from causalclf.data.config import DataConfig
from causalclf.data.shared import ag_news, reuters, uspto
from causalclf.errors import ConfigError, UserError
from causalclf.fields import check_fields, suggest

Cleaner = Callable[[str], str]
Recipe = Callable[[DataConfig], "tuple[DataConfig, Cleaner | None, list[str]]"]
"""A named dataset: its files and defaults as a config, a text clean-up, and notes for the report."""

NAMED: dict[str, Recipe] = {"bbc-news": bbc_news, "ag-news": ag_news, "uspto": uspto, "reuters": reuters}
"""Named datasets; "_" and "-" are interchangeable in names (ag_news == ag-news)."""


def named(value: str) -> bool:
    """Whether `value` names a dataset of `NAMED`."""
    return value.lower().replace("_", "-") in NAMED


def check_data(data: Any, where: str) -> None:
    """A named dataset, an existing path, or a mapping of `DataConfig` keys (checked)."""
    if isinstance(data, str):
        if named(data) or Path(data).expanduser().exists():
            return
        raise ConfigError(
            f"{where}: {data!r} is neither a named dataset ({', '.join(sorted(NAMED))})"
            f"{suggest(data, NAMED)} nor an existing path"
        )
    check_fields(DataConfig, data, where)
    try:
        DataConfig(**data)
    except UserError as e:
        raise ConfigError(f"{where}: {e}") from None
