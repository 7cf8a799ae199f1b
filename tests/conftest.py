"""Shared fixtures: tiny random causal LMs built in-process, and the shared real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.toy import build_tiny_llama  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> str:
    return str(build_tiny_llama(tmp_path_factory.mktemp("tiny-llama")))


@pytest.fixture(scope="session")
def quantizable_llama(tmp_path_factory) -> str:
    """The tiny Llama twice as wide: bitsandbytes' CPU 4-bit kernels need widths in whole 64-value blocks."""
    pytest.importorskip("bitsandbytes", reason="4-bit NF4 needs bitsandbytes: pip install 'causalclf[gpu]'")
    return str(build_tiny_llama(tmp_path_factory.mktemp("quantizable-llama"), hidden_size=64))


@pytest.fixture(scope="session")
def tiny_llama_chat(tmp_path_factory) -> str:
    return str(build_tiny_llama(tmp_path_factory.mktemp("tiny-llama-chat"), chat_template=True))


def _shared_data_root() -> Path | None:
    env = os.environ.get("CAUSALCLF_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`; a clear skip where absent, a failure under CI's strict flag."""
    root = _shared_data_root()
    if root is None:
        msg = (
            "../shared/data (the workplace's public datasets) is not present; "
            "set CAUSALCLF_SHARED_DATA to its location to run this test"
        )
        if os.environ.get("CAUSALCLF_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(msg + " (CAUSALCLF_REQUIRE_SHARED_DATA=1 forbids skipping)")
        pytest.skip(msg)
    return root


def pytest_collection_modifyitems(config, items):
    """On several workers (``make test``), the test files that run processes of their own go first: the longest
    files, and a long one left to the end would run alone while the other worker idles."""
    if getattr(config.option, "numprocesses", None):
        items.sort(key=lambda item: item.get_closest_marker("processes") is None)
