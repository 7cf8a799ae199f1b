"""Kernel-level tools of the benchmarks (`head_inference.py`, `batch_gain.py`), on torch's dispatch internals:

- `kernel_floor`: how long the matmul and attention kernels of a forward pass take alone, replayed one
  shape at a time: the time a forward would take if everything else (norms, activations, copies,
  Python) cost nothing;
- `dense_linear`: a `PackedLinear` back as a plain Linear, to time the two kernels against each other.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from causalclf.bench import best_seconds, count_kernels
from causalclf.runtime.lean import pack


@dataclass
class KernelFloor:
    """How long the matmul and attention kernels a function runs take alone, replayed (see `kernel_floor`)."""

    seconds: float
    """Sum over the kernels executed of each one's best time when run in isolation."""
    flops: int
    """Their FLOPs, as `FlopCounterMode` counts them."""
    kernels: list[dict]
    """One row per distinct kernel: op, input shapes, calls, seconds per call, FLOPs per call."""

    @property
    def flops_per_second(self) -> float:
        return self.flops / self.seconds

    def to_dict(self) -> dict:
        return {**asdict(self), "flops_per_second": self.flops_per_second}


def kernel_floor(fn, repeats: int = 5) -> KernelFloor:
    """Run `fn` once, record every counted kernel (matmul, attention) and time each shape alone.

    A square-matmul peak is a ceiling no model with small layers reaches: smollm2's projections
    are 576 wide, and a GEMM that thin runs well below an n=1024 square one on the same cores.
    The floor answers the fairer question: if everything but these kernels (norms, activations,
    rotary embeddings, copies, Python) took no time, how long would the forward take? Each
    distinct (op, shapes, strides) is replayed on random inputs of the same layout, best of
    `repeats`, times the number of calls; the rest of `fn`'s time is what fusion could win.
    """
    count_kernels()
    cuda = "cuda" if torch.cuda.is_available() else None

    def spec(value):
        if isinstance(value, torch.Tensor):
            # oneDNN's opaque layout has no strides; the only such tensor a counted kernel takes is a
            # PackedLinear's weight, so it is replayed as one
            stride = None if value.is_mkldnn else tuple(value.stride())
            return ("tensor", tuple(value.shape), stride, value.dtype, value.device.type)
        return value

    calls: dict[str, dict] = {}

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func._overloadpacket in flop_registry:
                packed = tree_map(spec, (args, kwargs))
                key = f"{func}{packed!r}"
                calls.setdefault(key, {"func": func, "spec": packed, "calls": 0})["calls"] += 1
            return func(*args, **kwargs)

    with Recorder():
        fn()

    def is_spec(value):
        return isinstance(value, tuple) and bool(value) and value[0] == "tensor"

    def make(value):
        if is_spec(value):
            _, shape, stride, dtype, device = value
            if stride is None:
                return pack(torch.randn(shape, dtype=dtype))
            out = torch.empty_strided(shape, stride, dtype=dtype, device=device)
            return out.normal_() if dtype.is_floating_point else out.zero_()
        return value

    kernels, total_seconds, total_flops = [], 0.0, 0
    for call in calls.values():
        args, kwargs = tree_map(make, call["spec"], is_leaf=is_spec)
        counter = FlopCounterMode(display=False)
        with counter:  # also the warm-up
            call["func"](*args, **kwargs)
        flops = counter.get_total_flops()
        best = best_seconds(functools.partial(call["func"], *args, **kwargs), repeats, cuda)
        shapes = [list(v[1]) for v in tree_leaves(call["spec"], is_leaf=is_spec) if is_spec(v)]
        kernels.append(
            {
                "op": str(call["func"]),
                "shapes": shapes,
                "calls": call["calls"],
                "seconds_per_call": best,
                "flops_per_call": flops,
            }
        )
        total_seconds += best * call["calls"]
        total_flops += flops * call["calls"]
    kernels.sort(key=lambda k: -k["seconds_per_call"] * k["calls"])
    return KernelFloor(seconds=total_seconds, flops=total_flops, kernels=kernels)


def dense_linear(packed):
    """A plain Linear computing what the `PackedLinear` `packed` computes (a dense copy of its weight)."""
    linear = torch.nn.Linear(packed.in_features, packed.out_features, bias=packed.bias is not None)
    linear.load_state_dict(packed.state_dict())
    return linear.eval()
