"""`causalclf bench MODEL_DIR`: inference throughput, memory and model FLOPs utilisation.

For each batch size, a saved classifier's `predict_proba` is timed on the same texts
(best of `repeats`): documents and document tokens per second, peak memory, the FLOP/s
achieved and, on a GPU with a known peak, the MFU (achieved FLOP/s over the device's dense
bf16 peak). Data-sheet peaks say little about a shared or unknown machine (and a CPU has
none here), so the same run also measures the machine's own matmul peak (`matmul_peak`:
square GEMMs, fp32 on CPU, bf16 on a GPU) and reports the model's FLOP/s as a share of it:
how close inference comes to what this machine's matmuls can do right now.

FLOPs are counted, not estimated: a first pass over the texts (which also warms up lazy
loading and kernels) runs under `torch.utils.flop_counter.FlopCounterMode`, which adds up
the matrix multiplications and attention actually executed, padding included (torch counts no
FLOPs for its CPU attention kernel nor for the oneDNN GEMM of the inference copy's packed Linears,
and older versions fail on grouped-query attention on a GPU, so `count_kernels` registers formulas
for them). Dynamically quantized int8 layers are not counted. Document tokens are the texts' tokens after
truncation to `max_length`, without prompt or special tokens.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

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
    matmul_peak_flops: float | None = None
    """The machine's own matmul FLOP/s, measured in the same run (`matmul_peak`); None without FLOPs."""
    share_of_matmul_peak: float | None = None
    """flops_per_second / matmul_peak_flops."""

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


@dataclass
class MatmulPeak:
    """The best matmul throughput this machine reached, measured (see `matmul_peak`)."""

    device: str
    dtype: str
    threads: int
    """torch's intra-op threads (CPU) while measuring."""
    size: int
    """The side n of the fastest square matmul."""
    kernel: str
    """Which GEMM ran it fastest: ``torch.mm`` (MKL on a CPU, cuBLAS on a GPU) or, on a CPU, ``oneDNN``
    (the packed-weight kernel `causalclf.runtime.lean.PackedLinear` runs)."""
    flops_per_matmul: int
    """FLOPs of one n x n by n x n matmul, as `FlopCounterMode` counts them (2 n^3)."""
    seconds: float
    """Its best time."""
    flops_per_second: float

    def to_dict(self) -> dict:
        return asdict(self)


def best_seconds(fn: Callable[[], object], repeats: int, cuda_device=None) -> float:
    """The fastest of `repeats` calls of `fn`; with a CUDA device, the work it queued there is included."""
    import torch

    best = float("inf")
    for _ in range(repeats):
        if cuda_device is not None:
            torch.cuda.synchronize(cuda_device)
        start = time.perf_counter()
        fn()
        if cuda_device is not None:
            torch.cuda.synchronize(cuda_device)
        best = min(best, time.perf_counter() - start)
    return best


ATTENTION_KERNELS = (
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
)


def _attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """torch's attention FLOPs (q k^T, then scores v) with grouped key/value heads counted once per query head."""
    from torch.utils.flop_counter import sdpa_flop_count

    heads = query_shape[1]
    return sdpa_flop_count(
        query_shape, (key_shape[0], heads, *key_shape[2:]), (value_shape[0], heads, *value_shape[2:])
    )


def _packed_linear_flops(x_shape, weight_shape, *args, out_shape=None, **kwargs) -> int:
    """`mkldnn._linear_pointwise(x, weight, ...)`: 2 FLOPs per multiply-add, as for aten's matmuls."""
    return 2 * math.prod(x_shape[:-1]) * weight_shape[0] * weight_shape[1]


def count_kernels() -> None:
    """Make `FlopCounterMode` count every attention kernel (grouped-query attention included) and the
    oneDNN GEMM of packed Linears.

    torch has no flop formula for `_scaled_dot_product_flash_attention_for_cpu`, which
    `scaled_dot_product_attention` runs on a CPU; and before torch 2.13 its formula for the GPU kernels
    asserts that key and value have as many heads as the query, which a grouped-query model run with
    ``enable_gqa`` does not have. One formula is registered for all of them. Nor has it one for
    `mkldnn._linear_pointwise`, which runs every Linear of a CPU inference copy
    (`causalclf.runtime.lean.PackedLinear`), so without one such a forward would count only its attention.
    Idempotent.
    """
    import torch
    from torch.utils.flop_counter import flop_registry, shape_wrapper

    from causalclf.runtime.lean import onednn_linear

    formula = shape_wrapper(_attention_flops)
    for name in ATTENTION_KERNELS:
        op = getattr(torch.ops.aten, name, None)
        if op is not None:
            flop_registry[op] = formula
    if onednn_linear():
        flop_registry[torch.ops.mkldnn._linear_pointwise] = shape_wrapper(_packed_linear_flops)


def matmul_peak(device: str = "cpu", sizes: Sequence[int] | None = None, repeats: int = 5) -> MatmulPeak:
    """The machine's own dense matmul peak: the best FLOP/s of square matmuls, over `sizes`, kernels and `repeats`.

    fp32 on a CPU, with torch's current thread count (as the model runs); bf16 on a GPU. Several
    sizes, because the fastest is not always the largest: on a CPU whose caches other processes
    share, a 256-wide matmul can outrun a 2048-wide one. On a CPU
    both GEMMs the library runs are timed, `torch.mm` (MKL) and oneDNN with a packed operand (what
    the inference copy's Linears run), since the peak a model is held to must be the best either
    reaches. FLOPs are counted by `FlopCounterMode`, as the model's are.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from causalclf.runtime.lean import onednn_linear, pack

    count_kernels()
    on_gpu = torch.device(device).type == "cuda"
    dtype = torch.bfloat16 if on_gpu else torch.float32
    best: MatmulPeak | None = None
    for n in sizes or ((2048, 4096, 8192) if on_gpu else (256, 512, 1024, 2048)):
        a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
        c = torch.empty(n, n, device=device, dtype=dtype)
        kernels = {"torch.mm": functools.partial(torch.mm, a, b, out=c)}
        if not on_gpu and onednn_linear():
            kernels["oneDNN"] = functools.partial(torch.ops.mkldnn._linear_pointwise, a, pack(b), None, "none", [], "")
        for kernel, run in kernels.items():
            counter = FlopCounterMode(display=False)
            with counter:  # also the warm-up
                run()
            flops = counter.get_total_flops()
            seconds = best_seconds(run, repeats, device if on_gpu else None)
            if best is None or flops / seconds > best.flops_per_second:
                best = MatmulPeak(
                    str(device),
                    str(dtype).removeprefix("torch."),
                    torch.get_num_threads(),
                    n,
                    kernel,
                    flops,
                    seconds,
                    flops / seconds,
                )
    return best


def measure_throughput(
    clf: Classifier,
    texts: Sequence[str],
    batch_sizes: Sequence[int] = (1, 8, 32),
    repeats: int = 3,
    peak: MatmulPeak | None = None,
) -> list[Throughput]:
    """Time `clf.predict_proba(texts)` at each batch size; the classifier's own batch size is restored.

    The matmul peak the FLOP/s are compared to is measured once, before the first timing, on
    the device the classifier runs on (`peak` passes one measured already).
    """
    import torch

    texts = list(texts)
    if not texts:
        raise ValueError("bench needs at least one text")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, not {repeats}")
    from torch.utils.flop_counter import FlopCounterMode

    from causalclf.backbones.loading import pick_device

    count_kernels()
    tokens = document_tokens(clf, texts)
    _, bf16_peak = device_peak_flops()
    sizes: list[int | None] = list(batch_sizes) if "batch_size" in clf.get_params() else [None]
    results = []
    for size in sizes:
        with clf.temporary_params(**({} if size is None else {"batch_size": size})):
            counter = FlopCounterMode(display=False)
            with counter:  # also the warm-up: lazy loads, kernels, int8 copies
                clf.predict_proba(texts)
            executed = counter.get_total_flops()
            if executed and peak is None:
                peak = matmul_peak(str(pick_device(clf.get_params().get("device", "auto"))))
            with PeakMemory() as memory:
                seconds = best_seconds(
                    lambda: clf.predict_proba(texts), repeats, "cuda" if torch.cuda.is_available() else None
                )
            tps = None if tokens is None else tokens / seconds
            flops = executed / seconds if executed else None
            results.append(
                Throughput(
                    batch_size=size,
                    n_texts=len(texts),
                    seconds=seconds,
                    docs_per_second=len(texts) / seconds,
                    tokens_per_second=tps,
                    peak_memory_mib=memory.mib,
                    flops_per_text=executed / len(texts) if executed else None,
                    flops_per_second=flops,
                    mfu=None if flops is None or bf16_peak is None else flops / bf16_peak,
                    matmul_peak_flops=None if flops is None else peak.flops_per_second,
                    share_of_matmul_peak=None if flops is None else flops / peak.flops_per_second,
                )
            )
    return results


def format_throughput(results: list[Throughput]) -> str:
    lines = [
        f"{'batch':>6s} {'docs/s':>10s} {'tokens/s':>11s} {'peak MiB':>9s} {'GFLOP/s':>9s} {'MFU':>7s} "
        f"{'of matmul peak':>14s}"
    ]
    for r in results:
        lines.append(
            f"{'-' if r.batch_size is None else r.batch_size:>6} {r.docs_per_second:10.1f} "
            f"{'-' if r.tokens_per_second is None else f'{r.tokens_per_second:.0f}':>11s} {r.peak_memory_mib:9.0f} "
            f"{'-' if r.flops_per_second is None else f'{r.flops_per_second / 1e9:.1f}':>9s} "
            f"{'-' if r.mfu is None else f'{r.mfu:.2%}':>7s} "
            f"{'-' if r.share_of_matmul_peak is None else f'{r.share_of_matmul_peak:.1%}':>14s}"
        )
    peaks = [r.matmul_peak_flops for r in results if r.matmul_peak_flops is not None]
    if peaks:
        lines.append(f"matmul peak of this machine, measured in this run: {peaks[0] / 1e9:.1f} GFLOP/s")
    return "\n".join(lines)
