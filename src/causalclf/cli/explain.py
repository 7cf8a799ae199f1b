"""`causalclf explain [TOPIC]`: every key of a config section (type, default, help), generated from the fields
of the dataclass behind it; the methods' topics come from the method registry."""

from __future__ import annotations

import json
from argparse import Namespace
from collections.abc import Callable

from causalclf.backbones.lora import DEFAULT_LORA
from causalclf.data.config import DataConfig
from causalclf.distillation.config import DistillConfig
from causalclf.errors import ConfigError
from causalclf.experiments.spec import Experiment
from causalclf.fields import explain as explain_fields
from causalclf.fields import init_fields, suggest
from causalclf.methods import methods
from causalclf.run_config import RunConfig
from causalclf.serve.options import ServeOptions
from causalclf.training.config import TrainingConfig

LORA_KEYS = (
    "r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "use_rslora",
    "use_dora",
    "bias",
    "modules_to_save",
    "layers_to_transform",
)
"""The `peft.LoraConfig` keys `explain lora` shows (the most used; every other works too)."""


def _lora() -> str:
    from peft import LoraConfig  # seconds to import: loaded for this topic only

    return (
        explain_fields(
            LoraConfig,
            "lora (peft.LoraConfig; the most used keys)",
            skip=[n for n in init_fields(LoraConfig) if n not in LORA_KEYS],
        )
        + f"\n\n  causalclf's defaults over peft's: {json.dumps(DEFAULT_LORA)}; every other LoraConfig key works too"
    )


def topics() -> dict[str, tuple[str, Callable[[], str]]]:
    """Each topic: what it is, and its text."""
    out = {
        "run": (
            "the keys of a run config (causalclf train)",
            lambda: (
                explain_fields(RunConfig, "run config", skip=("params",))
                + "\n\n  every other key: a parameter of the method (causalclf explain METHOD)"
            ),
        ),
        "training": (
            "optimisation settings (the training: section of every trainable method)",
            lambda: explain_fields(TrainingConfig, "training"),
        ),
        "data": (
            "the data: section (paths, columns, templates, splits, bad rows)",
            lambda: explain_fields(DataConfig, "data"),
        ),
        "distill": ("the distill: section (and causalclf distill)", lambda: explain_fields(DistillConfig, "distill")),
        "experiment": (
            "the keys of an experiment (causalclf compare)",
            lambda: explain_fields(Experiment, "experiment"),
        ),
        "lora": ("the lora: section: peft.LoraConfig's own keys", _lora),
        "serve": ("the options of causalclf serve", lambda: explain_fields(ServeOptions, "serve")),
    }
    for name, method in methods().items():
        out[name] = (
            method.summary,
            lambda method=method: explain_fields(method.params, f"{method.name} ({method.class_name})"),
        )
    return out


def explain_topic(topic: str) -> str:
    known = topics()
    if topic not in known:
        raise ConfigError(f"nothing to explain about {topic!r}{suggest(topic, known)}; topics: {', '.join(known)}")
    return known[topic][1]()


def run(args: Namespace) -> int:
    if args.topic is None:
        print(
            "causalclf explain TOPIC; topics:\n"
            + "\n".join(f"  {name:16s} {what}" for name, (what, _) in topics().items())
        )
        return 0
    print(explain_topic(args.topic))
    return 0
