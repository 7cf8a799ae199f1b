"""Leaner modules for the inference copy: the same numbers, fewer passes over memory.

Profiled on a CPU (smollm2-135m, bbc-news, batch 32 x 256 tokens), a fifth of the forward is
element-wise work outside the GEMMs, and much of it is allocating and first touching fresh
activations as large as the MLP's inner width. `lean` swaps three kinds of module on the copy
that predictions run (training and the saved model never see them):

- a gated MLP (``gate_proj``, ``up_proj``, ``down_proj`` and a SiLU ``act_fn``: Llama, Mistral,
  Qwen2, SmolLM, ...) becomes `GatedMLP`, which applies the SiLU and the product in place;
- an RMSNorm becomes `torch.nn.RMSNorm` holding the same weight (one fused call instead of
  an upcast, a square, a mean, two products and a downcast);
- on a CPU, an fp32 `nn.Linear` becomes `PackedLinear`, its weight laid out once for oneDNN's
  GEMM (see there).

A module is swapped only when its replacement gives its own output on a random input (checked
on the module itself, in its dtype and on its device), so an architecture that only looks the
same (Gemma's RMSNorm scales by 1 + weight; another activation) keeps its own forward.
"""

from __future__ import annotations

import logging
from collections import Counter

import torch
from torch import nn

log = logging.getLogger(__name__)


ROWS = 2048
"""Tokens per slice of a long batch in `GatedMLP`: a slice's gated activations (2,048 x the inner
width) stay in cache from the GEMMs that write them to the one that reads them."""


class GatedMLP(nn.Module):
    """down(silu(gate(x)) * up(x)), with the SiLU and the product written into gate(x)'s buffer,
    `ROWS` tokens at a time."""

    def __init__(self, gate_proj: nn.Module, up_proj: nn.Module, down_proj: nn.Module):
        super().__init__()
        self.gate_proj, self.up_proj, self.down_proj = gate_proj, up_proj, down_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters())):
            return self.down_proj(
                nn.functional.silu(self.gate_proj(x)) * self.up_proj(x)
            )  # autograd keeps the SiLU's input
        rows = x.reshape(-1, x.shape[-1])
        if len(rows) <= ROWS:
            return self._in_place(x)
        return torch.cat([self._in_place(part) for part in rows.split(ROWS)]).view(*x.shape[:-1], -1)

    def _in_place(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(nn.functional.silu(self.gate_proj(x), inplace=True).mul_(self.up_proj(x)))


class PackedLinear(nn.Module):
    """A CPU fp32 Linear whose weight is reordered once into oneDNN's blocked layout, for inference.

    torch's Linear runs MKL's sgemm, which reads the weight in its stored layout on every call;
    oneDNN's kernel (`mkldnn._linear_pointwise`, which torch.compile also emits for frozen CPU
    graphs) reads a weight packed beforehand, which is faster on small batches (RESULTS.md, "Head
    inference"). The packed weight replaces the dense one (no second copy); `state_dict` and pickling still see
    a dense ``weight``, so an export or a copy of the module reads plain tensors.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.packed = pack(linear.weight.detach())
        self.bias = None if linear.bias is None else linear.bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        destination[prefix + "weight"] = self.packed.to_dense()
        if self.bias is not None:
            destination[prefix + "bias"] = self.bias

    def __getstate__(self):  # oneDNN's layout has no storage that copy or pickle could read
        return {**self.__dict__, "packed": self.packed.to_dense()}

    def __setstate__(self, state):
        super().__setstate__({**state, "packed": pack(state["packed"])})

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def pack(weight: torch.Tensor) -> torch.Tensor:
    return torch.ops.mkldnn._reorder_linear_weight(weight, None)  # None: packed for any number of rows


def onednn_linear() -> bool:
    """Whether this torch has the oneDNN ops `PackedLinear` runs (CPU builds with oneDNN do)."""
    return torch.backends.mkldnn.is_available() and all(
        hasattr(torch.ops.mkldnn, op) for op in ("_linear_pointwise", "_reorder_linear_weight")
    )


def _packed_linear(module: nn.Module) -> nn.Module | None:
    if (
        type(module) is not nn.Linear
        or module.weight.device.type != "cpu"
        or module.weight.dtype != torch.float32
        or not onednn_linear()
    ):
        return None
    return PackedLinear(module)


def _gated_mlp(module: nn.Module) -> nn.Module | None:
    parts = [getattr(module, name, None) for name in ("gate_proj", "up_proj", "down_proj")]
    if any(p is None for p in parts) or getattr(module, "act_fn", None) is None:
        return None  # whether act_fn is a SiLU (transformers has its own class) is left to the output check
    return GatedMLP(*parts)


def _rms_norm(module: nn.Module) -> nn.Module | None:
    weight = getattr(module, "weight", None)
    eps = getattr(module, "variance_epsilon", getattr(module, "eps", None))
    if (
        not type(module).__name__.endswith("RMSNorm")
        or not isinstance(weight, nn.Parameter)
        or weight.dim() != 1
        or not isinstance(eps, float)
    ):
        return None
    norm = nn.RMSNorm(weight.shape[0], eps=eps, device=weight.device, dtype=weight.dtype)
    norm.weight = weight  # shared, not copied
    return norm


REPLACEMENTS = (_gated_mlp, _rms_norm, _packed_linear)


def _width(module: nn.Module) -> int:
    first = getattr(module, "gate_proj", module)
    return first.in_features if hasattr(first, "in_features") else module.weight.shape[0]


def _same_output(old: nn.Module, new: nn.Module) -> bool:
    weight = next(old.parameters())
    try:
        x = torch.randn(2, 3, _width(old), generator=torch.Generator().manual_seed(0)).to(weight.device, weight.dtype)
        with torch.no_grad():
            want, got = old(x.clone()), new(x.clone())
    except Exception as error:  # a look-alike that cannot even run the check keeps its own forward
        log.debug("lean check of %s failed: %s", type(old).__name__, error)
        return False
    if want.shape != got.shape:
        return False
    # Rounding differs between kernels in proportion to the outputs' size (a 1536-wide down
    # projection of real weights gives outputs near 50 and kernels that differ by 4e-5), while a
    # module that computes something else differs in proportion to it too.
    tolerance = (1e-5 if weight.dtype == torch.float32 else 1e-2) * max(1.0, want.float().abs().max().item())
    return torch.allclose(want.float(), got.float(), rtol=0, atol=tolerance)


def replace(model: nn.Module, name: str, module: nn.Module) -> None:
    """Put `module` where `model`'s submodule `name` is."""
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent), child, module)


def lean(model: nn.Module) -> nn.Module:
    """`model` with its gated MLPs, RMSNorms and CPU Linears swapped for the leaner modules, in place,
    where each gives the same output (see the module's docstring). Meant for an inference copy only."""
    uses = Counter(id(p) for _, p in model.named_parameters(remove_duplicate=False))
    swapped: Counter[str] = Counter()
    for name in [name for name, _ in model.named_modules()][1:]:  # never the model itself
        try:  # looked up afresh, so each replaced module (and its dense weight) is freed as the loop goes
            module = model.get_submodule(name)
        except AttributeError:  # a child of a module already replaced (a gated MLP's act_fn)
            continue
        if any(uses[id(p)] > 1 for p in module.parameters(recurse=False)):
            continue  # a weight tied to another module's (an LM head to its embeddings) would be held twice
        for replacement in REPLACEMENTS:
            new = replacement(module)
            if new is None:
                continue
            if _same_output(module, new):
                replace(model, name, new)
                swapped[type(module).__name__] += 1
            else:
                log.debug("%s (%s) kept: its output differs from %s", name, type(module).__name__, type(new).__name__)
            break
    if swapped:
        log.debug("lean inference modules: %s", dict(swapped))
    return model
