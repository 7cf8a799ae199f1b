"""The run config: one YAML file that `causalclf train` runs (data, a method with its parameters, outputs),
and `parse_config`, the one validator that checks all of it before anything loads.

    data: bbc-news                 # a named dataset, a path, or a data mapping (DataConfig keys)
    method: embedding_head         # a registered method (causalclf explain)
    model: smollm2-135m            # every other key is a parameter of the method
    lora: {r: 8, lora_alpha: 16}
    training: {epochs: 1, batch_size: 8}
    output_dir: runs/bbc-head
    train_size: 400                # optional stratified subsample of each split
    calibrate: true                # temperature scaling fitted on validation
    distill: {student: {model: minilm-l6}, temperature: 2.0, alpha: 0.5}

Cheap checks come first (keys, types, ranges, the data spec), the costly ones last (a model
reference looked up in the hub cache, LoRA settings built by PEFT), so a typo answers at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from causalclf.data.config import SplitSizes
from causalclf.data.spec import check_data
from causalclf.distillation.config import DistillConfig
from causalclf.errors import ConfigError
from causalclf.fields import check_fields, check_types, check_values, init_fields, read_yaml, suggest
from causalclf.methods import method


@dataclass
class RunConfig(SplitSizes):
    """One run: a dataset, a method with its parameters, where the results go."""

    data: Any = field(
        metadata={
            "help": "A named dataset (bbc-news, ag_news, uspto, reuters), a path, or a "
            "mapping of data keys (see `causalclf explain data`)."
        }
    )
    method: str = field(metadata={"help": "Which classifier: a registered method (see `causalclf explain`)."})
    params: dict = field(
        default_factory=dict, metadata={"help": "The method's parameters: every other top-level key of the file."}
    )
    output_dir: str | None = field(
        default=None,
        metadata={"help": "Folder for the saved model and the test-set run (default: runs/<config file name>)."},
    )
    name: str | None = field(
        default=None, metadata={"help": "Run name in reports (default: the output folder's name)."}
    )
    distill: DistillConfig | None = field(
        default=None,
        metadata={"help": "Distil the trained model into an encoder student (see `causalclf explain distill`)."},
    )
    calibrate: bool = field(
        default=False, metadata={"help": "Fit temperature scaling on validation and apply it at predict time."}
    )

    def build(self):
        """An unfitted classifier of `method` with `params`."""
        return method(self.method).load()(**self.params)


RUN_KEYS = tuple(name for name in init_fields(RunConfig) if name != "params")
"""Top-level keys of a run config that are not method parameters."""


def method_params(name: Any, where: str) -> type:
    """The parameters' dataclass of the registered method `name`."""
    try:
        return method(name).params
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def check_method_values(params_class: type, params: Mapping[str, Any], where: str) -> None:
    """Each parameter's own check (model references, LoRA settings: the costly ones), then their combination."""
    check_values(params_class, params, where)
    try:
        params_class(**params).check_combinations()
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def parse_config(raw: Any, source: str = "config") -> RunConfig:
    """Validate a loaded YAML mapping into a RunConfig: every key, at every depth, before anything loads.

    Keys and types first (the method's parameters, then the run's), then the data, then each value's
    own check, so that a typo is named before a model reference is looked up or PEFT is loaded.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, not {type(raw).__name__}")
    if "method" not in raw:
        close = suggest("method", raw)
        raise ConfigError(
            f"{source}: missing required key 'method' ({init_fields(RunConfig)['method'].metadata['help']})"
            + (f"; is {close[len(' (did you mean ') : -len('?)')]} a typo of it?" if close else "")
        )
    run = {k: v for k, v in raw.items() if k in RUN_KEYS}
    params = {k: v for k, v in raw.items() if k not in RUN_KEYS}
    params_class = method_params(raw["method"], source)
    where = f"{source} (method {raw['method']})"
    check_types(params_class, params, where, known_elsewhere=RUN_KEYS)
    check_fields(RunConfig, {k: v for k, v in run.items() if k != "distill"}, source)
    check_data(raw["data"], f"{source}: data")
    check_method_values(params_class, params, where)
    distill = None
    if raw.get("distill") is not None:
        check_fields(DistillConfig, raw["distill"], f"{source}: distill")
        distill = DistillConfig(**raw["distill"])
    return RunConfig(
        **{
            **run,
            "params": params,
            "distill": distill,
            "output_dir": str(run.get("output_dir") or f"runs/{Path(source).stem}"),
        }
    )


def load_config(path: str | Path) -> RunConfig:
    return parse_config(read_yaml(path), str(path))
