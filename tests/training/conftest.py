"""The toy data file every training test trains on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.toy import toy_single_label


@pytest.fixture(scope="session")
def toy_file(tmp_path_factory) -> Path:
    """30 toy texts, 3 classes: split 80/10/10 by causalclf into 24 / 3 / 3."""
    texts, labels = toy_single_label(10)
    path = tmp_path_factory.mktemp("toy") / "toy.jsonl"
    path.write_text("".join(json.dumps({"body": t, "topic": y}) + "\n" for t, y in zip(texts, labels)))
    return path
