"""Files that are either absent or whole: written under a temporary name, synced, then renamed.

A rename is atomic, so a kill (SIGKILL included) or a power cut never leaves a half-written file
under the final name: prediction parts and training checkpoints rely on this to resume.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

TEMPORARY = ".tmp"


def atomic_write(path: Path, write: Callable[[IO[bytes]], None], tmp: Path | None = None) -> None:
    """`write` into a temporary file (`tmp`, or one beside `path`), flushed to disk, then renamed onto `path`."""
    tmp = tmp or path.with_name(path.name + TEMPORARY)
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Makes a rename in `folder` durable (a power cut, not only a killed process, keeps it)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
