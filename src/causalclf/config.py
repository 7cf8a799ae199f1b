"""Typed configs, and the one validator that checks a whole YAML file before anything loads.

Every knob is a dataclass field carrying its type (choices as `Literal`), its default and its
help (``field(metadata={"help": ...})``, as PEFT writes its configs): the run config, the
training and distillation settings, the data config and every method's parameters (each
method class is itself such a dataclass). From the same fields come:

- `check_fields`: unknown keys (with the closest valid one), wrong types at any depth,
  choices, tuple-like values, ranges and model references, each named with where it is;
- `explain`: the help of ``causalclf explain [METHOD]`` and of CLI flags.

A run config, one YAML file::

    data: bbc-news                 # a named dataset, a path, or a data mapping (DataConfig keys)
    method: embedding_head         # embedding_head | instruction | prompt | encoder | tfidf
    model: smollm2-135m            # every other key is a parameter of the method's class
    lora: {r: 8, lora_alpha: 16}
    training: {epochs: 1, batch_size: 8}
    output_dir: runs/bbc-head
    train_size: 400                # optional stratified subsample of each split
    calibrate: true                # temperature scaling fitted on validation
    distill: {student: {model: minilm-l6}, temperature: 2.0, alpha: 0.5}
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from causalclf.errors import UserError


class ConfigError(UserError, ValueError):
    """A config key is missing, unknown, of the wrong type or out of range."""


# --------------------------------------------------------------------------- the validator
def suggest(key: str, known) -> str:
    close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe(hint) -> str:
    """A type hint in words, for messages and `explain`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return "null"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(describe(a) for a in args))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, typing.Sequence):
        return f"a list (each {describe(args[0])})" if args else "a list"
    if origin is tuple:
        return f"a list of {len(args)} ({', '.join(describe(a) for a in args)})"
    if origin in (dict, typing.Mapping):
        return f"a mapping ({describe(args[0])} to {describe(args[1])})" if args else "a mapping"
    if dataclasses.is_dataclass(hint):
        return f"a mapping of {hint.__name__} keys"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", Any: "anything",
            dict: "a mapping", list: "a list"}.get(
        hint, getattr(hint, "__name__", str(hint)))


def check_value(value: Any, hint, where: str) -> None:
    """Raise `ConfigError` unless `value` has the type `hint` describes (recursively)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return
    if origin in (typing.Union, types.UnionType):
        errors = {}
        for option in args:
            try:
                check_value(value, option, where)
                return
            except ConfigError as e:
                errors[option] = e
        # A list or mapping meant as the one option of its kind: that option's error says which item is wrong.
        same_kind = [option for option in args if _container(option) is not None
                     and isinstance(value, _container(option)) and not isinstance(value, str)]
        if len(same_kind) == 1:
            raise errors[same_kind[0]]
        literal = [a for option in args if typing.get_origin(option) is Literal for a in typing.get_args(option)]
        hint_text = suggest(value, literal) if isinstance(value, str) else ""
        raise ConfigError(f"{where}: {value!r} is not {describe(hint)}{hint_text}")
    if hint is type(None):
        ok = value is None
    elif origin is Literal:
        if value not in args or isinstance(value, bool) != any(isinstance(a, bool) for a in args if a == value):
            raise ConfigError(f"{where}: {value!r} is not {describe(hint)}"
                              + (suggest(value, [a for a in args if isinstance(a, str)]) if isinstance(value, str) else ""))
        return
    elif hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is str:
        ok = isinstance(value, str)
    elif origin in (list, typing.Sequence):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: {value!r} is not {describe(hint)}")
        for i, item in enumerate(value):
            check_value(item, args[0] if args else Any, f"{where}[{i}]")
        return
    elif origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{where}: {value!r} is not {describe(hint)}")
        for i, (item, arg) in enumerate(zip(value, args)):
            check_value(item, arg, f"{where}[{i}]")
        return
    elif origin in (dict, typing.Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: {value!r} is not {describe(hint)}")
        for key, item in value.items():
            check_value(key, args[0] if args else Any, f"{where} key {key!r}")
            check_value(item, args[1] if args else Any, f"{where}.{key}")
        return
    elif dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            check_fields(hint, {f.name: getattr(value, f.name) for f in init_fields(hint).values()}, where)
            return
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: {value!r} is not {describe(hint)}")
        check_fields(hint, value, where)
        return
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise ConfigError(f"{where}: {value!r} is not {describe(hint)}")


def _container(hint) -> tuple[type, ...] | None:
    """The Python types a list-like or mapping-like hint accepts, else None."""
    origin = typing.get_origin(hint)
    if origin in (list, tuple, typing.Sequence):
        return (list, tuple)
    if origin in (dict, typing.Mapping) or dataclasses.is_dataclass(hint):
        return (Mapping,)
    return None


def init_fields(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def type_hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_fields(cls, values: Mapping[str, Any], where: str, known_elsewhere=()) -> None:
    """Check a mapping meant for the dataclass `cls`: keys, types, then each field's own `check`.

    `known_elsewhere`: keys that are valid at this level for another reason (they are only
    offered as suggestions for a typo).
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected {describe(cls)}, got {type(values).__name__} {values!r}")
    fields = init_fields(cls)
    for key in values:
        if key not in fields:
            raise ConfigError(f"{where}: unknown key {key!r}{suggest(key, [*fields, *known_elsewhere])}; "
                              f"{cls.__name__} accepts: {', '.join(sorted(fields))}")
    missing = [name for name, f in fields.items() if name not in values and _required(f)]
    if missing:
        raise ConfigError(f"{where}: missing required key {missing[0]!r} ({fields[missing[0]].metadata.get('help', '')})")
    hints = type_hints(cls)
    for key, value in values.items():
        check_value(value, hints[key], f"{where}.{key}" if where else key)
        check = fields[key].metadata.get("check")
        if check is not None and value is not None:
            check(value, f"{where}.{key}" if where else key)


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def check_instance(obj) -> None:
    """`check_fields` on a dataclass instance's own values (an estimator's parameters at `fit`)."""
    cls = type(obj)
    check_fields(cls, {name: getattr(obj, name) for name in init_fields(cls)}, cls.__name__)


def default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _yaml(value: Any) -> str:
    import json

    return json.dumps(list(value) if isinstance(value, tuple) else value, default=str)


def explain(cls, title: str | None = None, skip=()) -> str:
    """Every field of `cls` (but `skip`): name, type, default and help, as plain text."""
    hints = type_hints(cls)
    lines = [title or cls.__name__]
    doc = (cls.__doc__ or "").strip().split("\n\n")[0]
    if doc:
        lines.append("  " + " ".join(doc.split()))
    for name, f in init_fields(cls).items():
        if name in skip:
            continue
        default = default_of(f)
        shown = "required" if default is dataclasses.MISSING else f"default {_yaml(default)}"
        lines.append(f"\n  {name}: {describe(hints[name])}; {shown}")
        lines.append("      " + " ".join(str(f.metadata.get("help", "")).split()))
    return "\n".join(lines)


def field_option(parser, cls, name: str, flag: str | None = None, **overrides) -> None:
    """An argparse option for the field `name` of `cls`: its type, default and help come from the field."""
    f, hint = init_fields(cls)[name], type_hints(cls)[name]
    default = overrides.pop("default", default_of(f))
    kinds = [a for a in (typing.get_args(hint) or (hint,)) if a is not type(None)]
    kwargs: dict[str, Any] = {"default": default, "help": " ".join(str(f.metadata.get("help", "")).split())
                              + f" (default: {default})"}
    if kinds == [bool]:
        kwargs["action"] = argparse_bool()
    elif kinds[0] in (int, float, str):
        kwargs["type"] = kinds[0]
    parser.add_argument(flag or "--" + name.replace("_", "-"), **{**kwargs, **overrides})


def argparse_bool():
    import argparse

    return argparse.BooleanOptionalAction


TOPICS = {
    "run": "the keys of a run config (causalclf train)",
    "training": "optimisation settings (the training: section of every trainable method)",
    "data": "the data: section (paths, columns, templates, splits, bad rows)",
    "distill": "the distill: section (and causalclf distill)",
    "experiment": "the keys of an experiment (causalclf compare)",
    "lora": "the lora: section: peft.LoraConfig's own keys",
    "embedding_head": "the embedding head (the paper's main method)",
    "instruction": "instruction tuning",
    "prompt": "zero-/few-shot prompting (local model or an OpenAI-compatible endpoint)",
    "encoder": "the fine-tuned encoder baseline (and the distillation student)",
    "tfidf": "TF-IDF + logistic regression",
}


def explain_topic(topic: str) -> str:
    """`causalclf explain TOPIC`: generated from the fields of the dataclass behind the topic."""
    if topic not in TOPICS:
        raise ConfigError(f"nothing to explain about {topic!r}{suggest(topic, TOPICS)}; topics: {', '.join(TOPICS)}")
    if topic == "run":
        return explain(RunConfig, "run config", skip=("params",)) + (
            "\n\n  every other key: a parameter of the method (causalclf explain METHOD)")
    if topic == "training":
        return explain(TrainingConfig, "training")
    if topic == "distill":
        return explain(DistillConfig, "distill")
    if topic == "data":
        from causalclf.data.config import DataConfig

        return explain(DataConfig, "data")
    if topic == "experiment":
        from causalclf.experiments import Experiment

        return explain(Experiment, "experiment")
    if topic == "lora":
        from peft import LoraConfig

        from causalclf.backbones import DEFAULT_LORA

        keys = ("r", "lora_alpha", "lora_dropout", "target_modules", "use_rslora", "use_dora", "bias",
                "modules_to_save", "layers_to_transform")
        return (explain(LoraConfig, "lora (peft.LoraConfig; the most used keys)",
                        skip=[n for n in init_fields(LoraConfig) if n not in keys])
                + f"\n\n  causalclf's defaults over peft's: {_yaml(DEFAULT_LORA)}; every other LoraConfig key works too")
    from causalclf.methods import get_method

    cls = get_method(topic)
    return explain(cls, f"{topic} ({cls.__name__})")


# --------------------------------------------------------------------------- field checks
def at_least(low: float, strict: bool = False) -> Callable[[Any, str], None]:
    def check(value, where):
        if value < low or (strict and value == low):
            raise ConfigError(f"{where}: {value!r} must be {'above' if strict else 'at least'} {low}")
    return check


positive = at_least(0, strict=True)
non_negative = at_least(0)


def fraction(value, where) -> None:
    if not 0 <= value <= 1:
        raise ConfigError(f"{where}: {value!r} must lie in [0, 1]")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def model_reference(kind: str | None = None) -> Callable[[Any, str], None]:
    """A check that `value` names a model that can load here and now, without a download:
    a registry name (of `kind`), an existing model folder, or a hub id already in the local cache."""

    def check(value, where):
        from causalclf.backbones import BUNDLED

        if value in BUNDLED:
            if kind is not None and BUNDLED[value].kind != kind:
                raise ConfigError(f"{where}: {value!r} is {'an encoder' if kind == 'causal' else 'a causal LM'}; "
                                  f"this method needs {'a causal LM' if kind == 'causal' else 'an encoder'} "
                                  f"({', '.join(n for n, b in BUNDLED.items() if b.kind == kind)})")
            return
        path = Path(value).expanduser()
        if path.is_dir():
            if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
                raise ConfigError(f"{where}: {value!r} is a folder but not a model (no config.json)")
            return
        if path.exists():
            raise ConfigError(f"{where}: {value!r} is a file; a model is a registry name, a folder or a hub id")
        names = ", ".join(BUNDLED)
        looks_like_hub_id = value.count("/") == 1 and not value.startswith((".", "/", "~"))
        if looks_like_hub_id:
            if not _offline():
                return
            from huggingface_hub import try_to_load_from_cache

            if isinstance(try_to_load_from_cache(value, "config.json"), str):
                return
            raise ConfigError(f"{where}: the hub model {value!r} is not in the local cache, and nothing is "
                              f"downloaded here (HF_HUB_OFFLINE=1); use a registry name ({names}) or a local folder")
        raise ConfigError(f"{where}: {value!r} is not a registry name ({names}){suggest(value, BUNDLED)}, an "
                          "existing model folder, or a hub id (org/name)")

    return check


def lora_mapping(value, where) -> None:
    """`lora:` keys are `peft.LoraConfig` fields, checked by PEFT's own dataclass."""
    if isinstance(value, Mapping):
        from peft import LoraConfig

        check_fields(LoraConfig, value, where)


# --------------------------------------------------------------------------- configs
@dataclass
class TrainingConfig:
    """Optimisation settings shared by every trainable method."""

    epochs: float = field(default=3.0, metadata={"help": "Passes over the training set (fractions allowed).",
                                                "check": positive})
    batch_size: int = field(default=8, metadata={"help": "Examples per device step.", "check": positive})
    gradient_accumulation_steps: int = field(default=1, metadata={
        "help": "Steps whose gradients are summed before each optimizer update.", "check": positive})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate (AdamW), reached after warm-up.",
                                                        "check": non_negative})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay.", "check": non_negative})
    warmup_ratio: float = field(default=0.06, metadata={
        "help": "Share of the updates spent warming the learning rate up from 0.", "check": fraction})
    scheduler: str = field(default="linear", metadata={
        "help": "Learning-rate schedule after warm-up (any transformers scheduler name, e.g. linear, cosine, constant)."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many updates (overrides `epochs` when > 0)."})
    min_steps: int = field(default=0, metadata={
        "help": "Train for at least this many updates: on a small training set `epochs` is raised until it holds "
                "(a few dozen updates leave a head or an adapter barely trained, whatever the epochs).",
        "check": non_negative})
    eval_steps: int | None = field(default=None, metadata={
        "help": "Evaluate on validation every this many updates; null evaluates once per epoch.", "check": positive})
    early_stopping_patience: int | None = field(default=2, metadata={
        "help": "Stop after this many evaluations without improvement; null never stops early.", "check": positive})
    seed: int = field(default=42, metadata={"help": "Seed for weight initialisation, shuffling and dropout."})
    logging_steps: int = field(default=10, metadata={"help": "Log the training loss every this many updates.",
                                                     "check": positive})
    group_by_length: bool = field(default=True, metadata={
        "help": "Batch texts of similar length together (less padding, faster on CPU)."})
    progress_bar: bool = field(default=True, metadata={"help": "Show a tqdm progress bar."})
    max_restarts: int = field(default=1, metadata={
        "help": "Rebuild and retrain with a new seed (seed + 1000 per restart) at most this many times when a run "
                "collapses (its best validation macro-F1 is within 0.02 of the best constant prediction; needs "
                "validation data) or diverges (its loss or gradient norm becomes NaN or infinite); 0 turns it off.",
        "check": non_negative})
    checkpoint_dir: str | None = field(default=None, metadata={
        "help": "Where checkpoints go, to resume an interrupted training: the trainable weights (adapters and "
                "heads, never a frozen backbone), the optimizer, scheduler and RNG states, the data position and "
                "the best-on-validation state. null writes none; causalclf train and compare default it to "
                "<output_dir>/checkpoints, deleted once the run is written."})
    checkpoint_steps: int | None = field(default=None, metadata={
        "help": "With a checkpoint_dir: save every this many updates (and on SIGTERM); null saves once per epoch.",
        "check": positive})
    keep_checkpoints: int = field(default=2, metadata={
        "help": "How many of the newest checkpoints are kept; older ones are deleted.", "check": positive})
    resume: bool = field(default=False, metadata={
        "help": "Continue from the newest checkpoint in checkpoint_dir (causalclf train --resume). false refuses a "
                "checkpoint_dir that already holds checkpoints rather than overwrite or reuse them."})

    @classmethod
    def coerce(cls, value: "TrainingConfig | Mapping | None") -> "TrainingConfig":
        """A TrainingConfig from itself, a mapping of its keys (checked) or None (the defaults)."""
        if value is None:
            return cls()
        if isinstance(value, TrainingConfig):
            return value
        check_fields(cls, value, "training")
        return cls(**value)

    def to_training_arguments(self, output_dir: str, n_rows: int, bf16: bool = False, cpu: bool = False):
        """These settings as transformers' `TrainingArguments` for `n_rows` training rows, checkpointing into
        `output_dir` when `checkpoint_dir` is set (no evaluation strategy: `training.BestOnValidation` picks the
        best weights itself). `cpu`: the model is on the CPU, where several processes (torchrun, accelerate
        launch) train with DDP over gloo."""
        import torch
        from transformers import TrainingArguments

        if self.checkpoint_dir is None:
            save = {"save_strategy": "no"}
        elif self.checkpoint_steps:
            save = {"save_strategy": "steps", "save_steps": self.checkpoint_steps}
        else:
            save = {"save_strategy": "epoch"}
        return TrainingArguments(
            output_dir=output_dir, num_train_epochs=self.epochs_for(n_rows), max_steps=self.max_steps,
            per_device_train_batch_size=self.batch_size, gradient_accumulation_steps=self.gradient_accumulation_steps,
            learning_rate=self.learning_rate, weight_decay=self.weight_decay, warmup_steps=self.warmup_ratio,
            lr_scheduler_type=self.scheduler, logging_steps=self.logging_steps, seed=self.seed,
            **save, save_total_limit=self.keep_checkpoints, eval_strategy="no", report_to=[],
            disable_tqdm=not self.progress_bar, remove_unused_columns=False,
            # A NaN or infinite loss must reach the logs, where `training.TrainingHealth` stops the run on it
            # (the Trainer would otherwise log the running mean in its place).
            logging_nan_inf_filter=False,
            train_sampling_strategy="group_by_length" if self.group_by_length else "random",
            dataloader_pin_memory=torch.cuda.is_available(), bf16=bf16, use_cpu=cpu,
        )

    def epochs_for(self, n_rows: int) -> float:
        """`epochs`, raised so that at least `min_steps` updates happen on `n_rows` rows."""
        per_epoch = -(-n_rows // self.batch_size) // max(self.gradient_accumulation_steps, 1)
        if self.min_steps <= 0 or per_epoch == 0:
            return self.epochs
        return max(self.epochs, self.min_steps / per_epoch)


@dataclass
class DistillConfig:
    """Distil the trained model into a small encoder student (the `distill:` section, and `causalclf distill`)."""

    student: dict = field(default_factory=dict, metadata={
        "help": "Parameters of the student EncoderClassifier (model, max_length, training, int8_inference...)."})
    temperature: float = field(default=2.0, metadata={
        "help": "T > 0 dividing the teacher's logits; T > 1 softens them.", "check": positive})
    alpha: float = field(default=0.5, metadata={
        "help": "Weight of the hard-label loss on labelled texts (0: the teacher's soft targets only).",
        "check": fraction})
    unlabeled: str | None = field(default=None, metadata={
        "help": "More texts (any predict input) that the student learns from the teacher's soft labels."})
    output_dir: str | None = field(default=None, metadata={
        "help": "Where the student goes (default: <output_dir>/student)."})


@dataclass
class RunConfig:
    """One run: a dataset, a method with its parameters, where the results go."""

    data: Any = field(metadata={"help": "A named dataset (bbc-news, ag_news, uspto, reuters), a path, or a "
                                        "mapping of data keys (see `causalclf explain data`)."})
    method: str = field(metadata={"help": "Which classifier: embedding_head, instruction, prompt, encoder or tfidf."})
    params: dict = field(default_factory=dict, init=True, metadata={
        "help": "The method's parameters: every other top-level key of the file."})
    output_dir: str | None = field(default=None, metadata={
        "help": "Folder for the saved model and the test-set run (default: runs/<config file name>)."})
    name: str | None = field(default=None, metadata={"help": "Run name in reports (default: the output folder's name)."})
    train_size: int | None = field(default=None, metadata={
        "help": "Stratified subsample of the training split (rows).", "check": positive})
    validation_size: int | None = field(default=None, metadata={
        "help": "Stratified subsample of the validation split (rows).", "check": positive})
    test_size: int | None = field(default=None, metadata={
        "help": "Stratified subsample of the test split (rows).", "check": positive})
    distill: DistillConfig | None = field(default=None, metadata={
        "help": "Distil the trained model into an encoder student (see `causalclf explain distill`)."})
    calibrate: bool = field(default=False, metadata={
        "help": "Fit temperature scaling on validation and apply it at predict time."})

    def build(self):
        """An unfitted classifier of `method` with `params`."""
        from causalclf.methods import get_method

        return get_method(self.method)(**self.params)


RUN_KEYS = tuple(name for name in init_fields(RunConfig) if name != "params")
"""Top-level keys of a run config that are not method parameters."""


def check_data(data: Any, where: str) -> None:
    """A named dataset, an existing path, or a mapping of `DataConfig` keys (checked)."""
    from causalclf.data.config import DataConfig
    from causalclf.data.loaders import NAMED

    if isinstance(data, str):
        if data.lower().replace("_", "-") in NAMED or Path(data).expanduser().exists():
            return
        raise ConfigError(f"{where}: {data!r} is neither a named dataset ({', '.join(sorted(NAMED))})"
                          f"{suggest(data, NAMED)} nor an existing path")
    check_fields(DataConfig, data, where)
    try:
        DataConfig(**data)
    except UserError as e:
        raise ConfigError(f"{where}: {e}") from None


def check_method(method: Any, params: Mapping[str, Any], where: str, known_elsewhere=()) -> None:
    """`method` is a registered method and `params` are valid parameters of its class."""
    from causalclf.methods import get_method, method_names

    if method not in method_names():
        raise ConfigError(f"{where}: method {method!r} is unknown{suggest(str(method), method_names())}; "
                          f"choose one of {', '.join(method_names())}")
    cls = get_method(method)
    check_fields(cls, params, f"{where} (method {method})", known_elsewhere)
    try:
        cls(**params)._check_combinations()
    except ConfigError as e:
        raise ConfigError(f"{where} (method {method}): {e}") from None


def parse_config(raw: Any, source: str = "config") -> RunConfig:
    """Validate a loaded YAML mapping into a RunConfig: every key, at every depth, before anything loads."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, not {type(raw).__name__}")
    if "method" not in raw:
        close = suggest("method", raw)
        raise ConfigError(f"{source}: missing required key 'method' ({init_fields(RunConfig)['method'].metadata['help']})"
                          + (f"; is {close[len(' (did you mean '):-len('?)')]} a typo of it?" if close else ""))
    run = {k: v for k, v in raw.items() if k in RUN_KEYS}
    params = {k: v for k, v in raw.items() if k not in RUN_KEYS}
    check_method(raw["method"], params, source, known_elsewhere=RUN_KEYS)
    check_fields(RunConfig, run, source)
    check_data(raw["data"], f"{source}: data")
    distill = None
    if raw.get("distill") is not None:
        check_method("encoder", raw["distill"].get("student") or {}, f"{source}: distill.student")
        distill = DistillConfig(**raw["distill"])
    return RunConfig(**{**run, "params": params, "distill": distill,
                        "output_dir": str(run.get("output_dir") or f"runs/{Path(source).stem}")})


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
