"""Peak memory of a block of work: what a run or a benchmark reports beside its time.

On CUDA it is the allocator's peak (`torch.cuda.max_memory_allocated`, reset at entry). On a
CPU the process's resident set is sampled by a thread every few milliseconds, because the
kernel's own peak (``ru_maxrss``) never goes down and so would charge every run in a process
with the largest that came before it.
"""

from __future__ import annotations

import resource
import sys
import threading
from pathlib import Path

_STATM = Path("/proc/self/statm")


def process_peak_mib() -> float:
    """The largest resident memory the process has had since it started (the kernel's ``ru_maxrss``)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


def resident_mib() -> float:
    """The process's resident memory now (Linux), else its peak so far."""
    try:
        pages = int(_STATM.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return process_peak_mib()
    return pages * resource.getpagesize() / 2**20


class PeakMemory:
    """``with PeakMemory() as peak: ...`` then ``peak.mib``: the peak inside the block, in MiB."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.mib = 0.0
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        # Work on a GPU has loaded torch by now (its classifier class imports it); work that never does
        # (TF-IDF) is not made to load it here.
        torch = sys.modules.get("torch")
        self.device = "cuda" if torch is not None and torch.cuda.is_available() else "cpu"
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        self.mib = resident_mib()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def peak(self) -> float:
        """The peak so far (the block may still be running)."""
        if self.device == "cuda":
            return sys.modules["torch"].cuda.max_memory_allocated() / 2**20
        return max(self.mib, resident_mib())

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.mib = max(self.mib, resident_mib())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.mib = self.peak()
