"""Named loaders for the workplace's shared datasets (`ag_news`, `uspto`, `reuters`) under a data `root`.

`root` defaults to $CAUSALCLF_SHARED_DATA, else <repo>/../shared/data. Each dataset's
SOURCE.md there describes its provenance and quirks; the choices below follow it.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

from causalclf.data.cleaning import normalize_whitespace
from causalclf.data.config import DataConfig
from causalclf.data.report import DataError

_REPO = Path(__file__).resolve().parents[3]
_BARE_CHAR_REF = re.compile(r"(?<!&)#(\d+);")


def shared_root(root: str | None = None) -> Path:
    """The shared data folder: `root`, else $CAUSALCLF_SHARED_DATA, else <repo>/../shared/data."""
    candidate = root or os.environ.get("CAUSALCLF_SHARED_DATA") or _REPO.parent / "shared" / "data"
    path = Path(candidate)
    if not path.is_dir():
        raise DataError(f"shared data folder {path} not found; pass root=... or set CAUSALCLF_SHARED_DATA")
    return path


def unescape_ag_news(text: str) -> str:
    """AG News keeps HTML character references without their '&' ("#39;" for an apostrophe,
    "#36;" for "$"), '&lt;'-style entities, and a bare backslash where a line break was."""
    text = html.unescape(_BARE_CHAR_REF.sub(r"&#\1;", text))
    return normalize_whitespace(text.replace("\\", " "))


def ag_news(config: DataConfig):
    """AG News test split only (7,600 rows, 4 balanced classes), split 0.8/0.1/0.1 like any unsplit data."""
    raw = shared_root(config.root) / "ag_news" / "raw"
    names = [n.strip() for n in (raw / "classes.txt").read_text(encoding="utf-8").splitlines() if n.strip()]
    cfg = config.for_named(
        {"path": str(raw / "test.csv")},
        format="csv",
        columns=["class_index", "title", "description"],
        text="{title}\n{description}",
        label="class_index",
        label_map={str(i): n for i, n in enumerate(names, start=1)},
    )
    note = (
        "AG News: only the official test file (7,600 rows) is present, so every split here is carved "
        "out of it; these are not official AG News test figures"
    )
    return cfg, unescape_ag_news, [note]


def uspto(config: DataConfig):
    """USPTO ipg210105 abstracts, multi-label IPC sections A-H, with the author's train/val/test split.

    The abstract column starts with the application type ("utility ..."); it is kept as given.
    The author's preprocessing left runs of spaces, which are collapsed.
    """
    raw = shared_root(config.root) / "uspto_ipg210105_ipc_sections" / "raw"
    files = {"train": raw / "train.csv", "validation": raw / "val.csv", "test": raw / "test.csv"}
    cfg = config.for_named(
        {k: str(v) for k, v in files.items()},
        format="csv",
        text="{publication_title_claims}\n{application_type_abstract}",
        label="label",
        label_delimiter=",",
        multi_label=True,
    )
    return cfg, normalize_whitespace, ["USPTO: the train/validation/test split is the repository author's, not USPTO's"]


def reuters(config: DataConfig):
    """Reuters-21578 with the ModApte split (9,603 train / 3,299 test), multi-label topics.

    Set ``top_k: 10`` for the usual R10 subset. A validation split is carved from train.
    """
    folder = shared_root(config.root) / "reuters21578" / "raw"
    cfg = config.for_named({"path": str(folder)}, format="reuters", text="text", label="topics", multi_label=True)
    return cfg, normalize_whitespace, []
