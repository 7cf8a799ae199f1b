"""`causalclf bench MODEL_DIR`: inference throughput, memory and model FLOPs utilisation.

For each batch size, a saved classifier's `predict_proba` is timed on the same texts
(best of `repeats`): documents and document tokens per second, peak memory, the FLOP/s
achieved and, on a GPU with a known peak, the MFU (achieved FLOP/s over the device's dense
bf16 peak).

FLOPs are counted, not estimated: a first pass over the texts (which also warms up lazy
loading and kernels) runs under `torch.utils.flop_counter.FlopCounterMode`, which adds up
the matrix multiplications and attention actually executed, padding included. Dynamically
quantized int8 layers are not counted. Document tokens are the texts' tokens after
truncation to `max_length`, without prompt or special tokens.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from causalclf.methods.base import Classifier
from causalclf.resources import PeakMemory

PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}
"""Dense bf16 tensor-core peaks (NVIDIA data sheets, SXM) by device-name fragment; other devices get no MFU."""


@dataclass
class Throughput:
    """One timed configuration."""

    batch_size: int | None
    """Texts per forward pass (None: the method has no batch size, e.g. TF-IDF)."""
    n_texts: int
    seconds: float
    """Best of the repeats."""
    docs_per_second: float
    tokens_per_second: float | None
    """Document tokens per second (None for methods without a tokenizer)."""
    peak_memory_mib: float
    """Peak GPU memory allocated (CUDA) or the process's peak resident memory (CPU) while timing."""
    flops_per_text: float | None
    """FLOPs executed per text (matrix multiplications and attention, padding included)."""
    flops_per_second: float | None
    mfu: float | None
    """flops_per_second over the device's dense bf16 peak (None where the peak is unknown)."""

    def to_dict(self) -> dict:
        return asdict(self)


def document_tokens(clf: Classifier, texts: Sequence[str]) -> int | None:
    tokenizer = getattr(clf, "tokenizer_", None)
    if tokenizer is None:
        return None
    max_length = getattr(clf, "max_length", None)
    enc = tokenizer(list(texts), truncation=max_length is not None, max_length=max_length, add_special_tokens=False)
    return int(sum(len(ids) for ids in enc["input_ids"]))


def device_peak_flops() -> tuple[str, float | None]:
    """The accelerator's name and its dense bf16 peak, or ("cpu", None)."""
    import torch

    if not torch.cuda.is_available():
        return "cpu", None
    name = torch.cuda.get_device_name(0)
    peak = next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)
    return name, peak


def measure_throughput(clf: Classifier, texts: Sequence[str], batch_sizes: Sequence[int] = (1, 8, 32),
                       repeats: int = 3) -> list[Throughput]:
    """Time `clf.predict_proba(texts)` at each batch size; the classifier's own batch size is restored."""
    import torch

    texts = list(texts)
    if not texts:
        raise ValueError("bench needs at least one text")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, not {repeats}")
    from torch.utils.flop_counter import FlopCounterMode

    tokens = document_tokens(clf, texts)
    _, peak = device_peak_flops()
    sizes: list[int | None] = list(batch_sizes) if "batch_size" in clf.get_params() else [None]
    original = clf.get_params().get("batch_size")
    results = []
    try:
        for size in sizes:
            if size is not None:
                clf.set_params(batch_size=size)
            counter = FlopCounterMode(display=False)
            with counter:  # also the warm-up: lazy loads, kernels, int8 copies
                clf.predict_proba(texts)
            executed = counter.get_total_flops()
            timings = []
            with PeakMemory() as memory:
                for _ in range(repeats):
                    if torch.cuda.is_available():
                        torch.cuda.synchronize()
                    start = time.perf_counter()
                    clf.predict_proba(texts)
                    if torch.cuda.is_available():
                        torch.cuda.synchronize()
                    timings.append(time.perf_counter() - start)
            seconds = float(np.min(timings))
            tps = None if tokens is None else tokens / seconds
            flops = executed / seconds if executed else None
            results.append(Throughput(
                batch_size=size, n_texts=len(texts), seconds=seconds, docs_per_second=len(texts) / seconds,
                tokens_per_second=tps, peak_memory_mib=memory.mib,
                flops_per_text=executed / len(texts) if executed else None, flops_per_second=flops,
                mfu=None if flops is None or peak is None else flops / peak,
            ))
    finally:
        if original is not None:
            clf.set_params(batch_size=original)
    return results


def format_throughput(results: list[Throughput]) -> str:
    lines = [f"{'batch':>6s} {'docs/s':>10s} {'tokens/s':>11s} {'peak MiB':>9s} {'GFLOP/s':>9s} {'MFU':>7s}"]
    for r in results:
        lines.append(
            f"{'-' if r.batch_size is None else r.batch_size:>6} {r.docs_per_second:10.1f} "
            f"{'-' if r.tokens_per_second is None else f'{r.tokens_per_second:.0f}':>11s} {r.peak_memory_mib:9.0f} "
            f"{'-' if r.flops_per_second is None else f'{r.flops_per_second / 1e9:.1f}':>9s} "
            f"{'-' if r.mfu is None else f'{r.mfu:.2%}':>7s}"
        )
    return "\n".join(lines)
