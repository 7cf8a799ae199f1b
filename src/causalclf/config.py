"""A YAML run config: one dataset, one method with its parameters, where to write results.

    data: bbc-news                 # a bundled name, a path, or a data mapping (DataConfig keys)
    method: embedding_head         # embedding_head | instruction | prompt | encoder | tfidf
    model: smollm2-135m            # every other key is a parameter of the method's class
    lora: {r: 8, alpha: 16}
    training: {epochs: 1, batch_size: 8}
    output_dir: runs/bbc-head
    train_size: 400                # optional stratified subsample of each split
    calibrate: true                # temperature scaling fitted on validation
    distill: {student: {model: minilm-l6}, temperature: 2.0, alpha: 0.5}

Validation names the offending key and says why, before any model is loaded.
"""
from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_KEYS = {
    "data": "dataset: a bundled name, a path, or a mapping of DataConfig keys",
    "method": "which classifier to train",
    "output_dir": "folder for the saved model and the test-set run",
    "name": "run name shown in reports (default: the output folder's name)",
    "train_size": "stratified subsample of the training split (rows)",
    "validation_size": "stratified subsample of the validation split (rows)",
    "test_size": "stratified subsample of the test split (rows)",
    "distill": "optional: distil the trained model into an encoder student",
    "calibrate": "fit temperature scaling on validation and apply it at predict time",
}
DISTILL_KEYS = {"student", "temperature", "alpha", "unlabeled", "output_dir"}


class ConfigError(ValueError):
    """A config key is missing, unknown or of the wrong type."""


@dataclass
class RunConfig:
    """A validated run config."""

    data: Any
    method: str
    params: dict = field(default_factory=dict)
    output_dir: str = "runs/run"
    name: str | None = None
    train_size: int | None = None
    validation_size: int | None = None
    test_size: int | None = None
    distill: dict | None = None
    calibrate: bool = False

    def build(self):
        """An unfitted classifier of `method` with `params`."""
        from causalclf.methods import get_method

        return get_method(self.method)(**self.params)


def _suggest(key: str, known) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_params(cls, params: dict, where: str) -> None:
    """Every key must be a constructor parameter; scalars must match the default's type."""
    sig = inspect.signature(cls.__init__)
    known = {n: p for n, p in sig.parameters.items() if n != "self"}
    for key, value in params.items():
        if key not in known:
            raise ConfigError(
                f"{where}: unknown key {key!r}{_suggest(key, known)}; "
                f"{cls.__name__} accepts: {', '.join(sorted(known))}"
            )
        default = known[key].default
        if default is inspect.Parameter.empty or default is None or value is None:
            continue
        expected = type(default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if expected in (bool, int, float, str) and not (
            isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        ):
            raise ConfigError(
                f"{where}: key {key!r} must be {expected.__name__} (like the default {default!r}), "
                f"got {type(value).__name__} {value!r}"
            )
    # nested dataclass sections report their own unknown keys; name where they came from
    for section in ("training", "lora"):
        if isinstance(params.get(section), dict):
            from causalclf.backbones import LoraSpec
            from causalclf.training import TrainingConfig

            spec = TrainingConfig if section == "training" else LoraSpec
            try:
                spec.coerce(params[section])
            except (TypeError, ValueError) as e:
                raise ConfigError(f"{where}.{section}: {e}") from None


def parse_config(raw: Any, source: str = "config") -> RunConfig:
    """Validate a loaded YAML mapping into a RunConfig."""
    from causalclf.methods import get_method, method_names

    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, not {type(raw).__name__}")
    for key in ("data", "method"):
        if key not in raw:
            raise ConfigError(f"{source}: missing required key {key!r} ({RUN_KEYS[key]})")
    method = raw["method"]
    if method not in method_names():
        raise ConfigError(f"{source}: method {method!r} is unknown{_suggest(str(method), method_names())}; "
                          f"choose one of {method_names()}")
    params = {k: v for k, v in raw.items() if k not in RUN_KEYS}
    cls = get_method(method)
    check_params(cls, params, f"{source} (method {method})")
    for key in ("train_size", "validation_size", "test_size"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise ConfigError(f"{source}: {key!r} must be a positive integer, got {value!r}")
    distill = raw.get("distill")
    if distill is not None:
        if not isinstance(distill, dict):
            raise ConfigError(f"{source}: 'distill' must be a mapping with keys {sorted(DISTILL_KEYS)}")
        unknown = set(distill) - DISTILL_KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(f"{source}: distill: unknown key {key!r}{_suggest(key, DISTILL_KEYS)}; "
                              f"known: {sorted(DISTILL_KEYS)}")
        check_params(get_method("encoder"), distill.get("student") or {}, f"{source} distill.student")
    if not isinstance(raw.get("calibrate", False), bool):
        raise ConfigError(f"{source}: 'calibrate' must be true or false, got {raw['calibrate']!r}")
    output_dir = raw.get("output_dir") or f"runs/{Path(source).stem}"
    return RunConfig(
        data=raw["data"], method=method, params=params, output_dir=str(output_dir), name=raw.get("name"),
        train_size=raw.get("train_size"), validation_size=raw.get("validation_size"),
        test_size=raw.get("test_size"), distill=distill, calibrate=raw.get("calibrate", False),
    )


def read_yaml(path: str | Path, what: str = "config") -> Any:
    """The parsed content of a YAML file; a missing file or bad YAML is a ConfigError."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} file {path} does not exist")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None


def load_config(path: str | Path) -> RunConfig:
    return parse_config(read_yaml(path), str(path))
