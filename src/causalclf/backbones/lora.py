"""LoRA settings: causalclf's defaults over `peft.LoraConfig`'s own keys, checked before any model loads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from causalclf.errors import ConfigError
from causalclf.fields import at_least, between, check_fields, positive

DEFAULT_LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": "all-linear"}
"""The LoRA a method gets unless told otherwise: rank 8 on every linear projection of the blocks
(q, k, v, o, gate, up, down on Llama-style models, never an output head), as in the paper."""

VALUE_CHECKS = {"r": at_least(1), "lora_alpha": positive, "lora_dropout": between(0, 0.99)}
"""Ranges of the values PEFT's config takes without a word and fails on later, inside the model."""


def check_lora(value: Any, where: str) -> None:
    """A `lora:` mapping: `peft.LoraConfig`'s own keys and types, the ranges of `VALUE_CHECKS`, and a
    `LoraConfig` that PEFT itself builds from it over `DEFAULT_LORA` (its errors become this one's)."""
    if not isinstance(value, Mapping):
        return
    from peft import LoraConfig

    check_fields(LoraConfig, value, where)
    for key, check in VALUE_CHECKS.items():
        if value.get(key) is not None:
            check(value[key], f"{where}.{key}")
    try:
        LoraConfig(**{**DEFAULT_LORA, **value})
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: {e}") from None
