"""LoRA adapters for a backbone: the `peft.LoraConfig`, its rank picked from a trainable-parameter budget when asked,
counted exactly from module shapes.

A rank-r adapter on a module mapping `in` features to `out` features adds r * (in + out)
parameters (A: r x in, B: out x r; the same for an embedding with in = vocabulary size),
so the count is linear in r. Targets are resolved as PEFT resolves them: "all-linear" is
every linear layer except the output embedding (LM head), a string is a regular
expression matched against the full module name, a list names module-name suffixes.
Works on any un-adapted backbone: a causal LM for instruction tuning, the bare model of
the embedding head.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from causalclf.backbones.lora import DEFAULT_LORA


def lora_targets(model: nn.Module, target_modules: str | Sequence[str] = "all-linear") -> dict[str, tuple[int, int]]:
    """``{module name: (in, out)}`` of the modules a LoRA adapter would wrap."""
    from transformers.pytorch_utils import Conv1D

    get_output = getattr(model, "get_output_embeddings", None)
    output = get_output() if callable(get_output) else None
    all_linear = isinstance(target_modules, str) and target_modules.lower() == "all-linear"
    found: dict[str, tuple[int, int]] = {}
    for name, module in model.named_modules():
        if not name:
            continue
        if all_linear:
            hit = isinstance(module, (nn.Linear, Conv1D)) and module is not output
        elif isinstance(target_modules, str):
            hit = re.fullmatch(target_modules, name) is not None
        else:
            hit = name in target_modules or any(name.endswith("." + t) for t in target_modules)
        if not hit:
            continue
        if isinstance(module, nn.Linear):
            found[name] = (module.in_features, module.out_features)
        elif isinstance(module, Conv1D):  # GPT-2 style: weight is (in, out)
            found[name] = tuple(module.weight.shape)
        elif isinstance(module, nn.Embedding):
            found[name] = (module.num_embeddings, module.embedding_dim)
        else:
            raise TypeError(
                f"LoRA target {name} is a {type(module).__name__}; only linear, Conv1D and "
                "embedding modules are counted"
            )
    if not found:
        raise ValueError(f"target_modules={target_modules!r} matches no module of this model")
    return found


def lora_parameters(model: nn.Module, r: int, target_modules: str | Sequence[str] = "all-linear") -> int:
    """Trainable parameters of a rank-`r` adapter on `model`."""
    return r * sum(i + o for i, o in lora_targets(model, target_modules).values())


def lora_rank_for_budget(
    model: nn.Module, target_params: int, target_modules: str | Sequence[str] = "all-linear"
) -> int:
    """The rank (>= 1) whose adapter size is nearest to `target_params`."""
    if target_params <= 0:
        raise ValueError("target_params must be positive")
    per_rank = lora_parameters(model, 1, target_modules)
    return max(1, round(target_params / per_rank))


def lora_config(
    lora: Mapping[str, Any] | None,
    task_type: str | None = None,
    model: nn.Module | None = None,
    budget: int | None = None,
):
    """`peft.LoraConfig` from a mapping of its own keys over `DEFAULT_LORA` (None: no LoRA).

    With a `budget` (trainable adapter parameters) and the un-adapted `model`, the rank is the
    one whose adapters come nearest to it, counted from the model's shapes; ``lora_alpha``
    keeps its ratio to the rank.
    """
    from peft import LoraConfig

    if lora is None:
        return None
    spec = {**DEFAULT_LORA, **lora}
    if budget is not None:
        rank = lora_rank_for_budget(model, budget, spec["target_modules"])
        spec = {**spec, "r": rank, "lora_alpha": spec["lora_alpha"] * rank / spec["r"]}
    return LoraConfig(**spec, task_type=task_type)
