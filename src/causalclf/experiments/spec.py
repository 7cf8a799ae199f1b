"""An experiment's spec: one dataset x several methods x several seeds (x training sizes), checked before
anything trains, and the runs it plans.

    name: bbc-news, head vs baselines
    data: bbc-news                 # as in a run config
    train_size: 400                # optional stratified slices, drawn once for every run
    validation_size: 100
    seeds: [1, 2, 3]
    output_dir: runs/experiments/bbc
    reference: embedding-head      # what every other method is compared with (default: the first)
    train_sizes: [100, 300, all]   # optional learning curve: every method at every size
    methods:                       # name -> a run config's method keys
      embedding-head: {method: embedding_head, model: smollm2-135m, lora: {r: 8}, max_length: 64}
      tfidf: {method: tfidf}

A seed goes to ``training.seed`` (or a method's own ``seed``); a method with neither (TF-IDF) is
deterministic and runs once. With `train_sizes`, the slices are nested (each smaller one is a
stratified sample of the next larger one, drawn with `data_seed`), so a method sees the same items at
each size as every other method, and only adds items as the size grows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from causalclf.data.config import SplitSizes
from causalclf.errors import ConfigError, UserError
from causalclf.fields import check_fields, init_fields, read_yaml, suggest
from causalclf.methods import method
from causalclf.run_config import RunConfig, parse_config
from causalclf.training.config import TrainingConfig

ALL = "all"
"""A `train_sizes` entry meaning the whole training slice."""


class ExperimentError(UserError, RuntimeError):
    """The output folder holds runs that this experiment did not make, or made differently."""


@dataclass(frozen=True)
class PlannedRun:
    """One (method, training size, seed) of an experiment and the run config that trains it."""

    method: str
    size: int | str | None
    """A `train_sizes` entry; None when the experiment has no learning curve."""
    seed: int | None
    """None for a deterministic method (run once)."""
    config: RunConfig


def _distinct(value, where) -> None:
    if not value or len({str(v) for v in value}) != len(value):
        raise ConfigError(f"{where}: {value!r} must be a non-empty list of distinct values")


@dataclass
class Experiment(SplitSizes):
    """One dataset, several methods, several seeds (and training sizes): one comparison."""

    data: Any = field(metadata={"help": "The dataset, as in a run config: a named dataset, a path or a data mapping."})
    methods: dict[str, dict] = field(
        metadata={
            "help": "A name for each method mapped to a run config's method keys (method: ..., its parameters); a "
            "method may also take `seeds` and `train_sizes`, subsets of the experiment's, when it is too slow "
            "for all of them or learns nothing from more data."
        }
    )
    name: str | None = field(
        default=None, metadata={"help": "Title of the table and the report (default: the file name)."}
    )
    seeds: list[int] = field(
        default_factory=lambda: [42],
        metadata={"help": "Training seeds; a method without any (TF-IDF) runs once.", "check": _distinct},
    )
    train_sizes: list[int | Literal["all"]] | None = field(
        default=None,
        metadata={
            "help": "A learning curve: every method at each training-set size, on nested stratified slices "
            "(all: the whole training slice).",
            "check": _distinct,
        },
    )
    data_seed: int = field(default=42, metadata={"help": "Seed of the slices."})
    output_dir: str | None = field(
        default=None, metadata={"help": "Folder for the runs, the tables and the report (default: runs/<file name>)."}
    )
    reference: str | None = field(
        default=None, metadata={"help": "The method every other one is compared with (default: the first listed)."}
    )
    configs: dict[str, RunConfig] = field(init=False, default_factory=dict)
    """Each method's run config (seed and output folder are set per run)."""
    method_seeds: dict[str, list[int]] = field(init=False, default_factory=dict)
    """Methods that run on only some of `seeds` (e.g. the slowest)."""
    method_sizes: dict[str, list[int | str]] = field(init=False, default_factory=dict)
    """Methods that run at only some of `train_sizes` (e.g. zero-shot, which learns nothing from them)."""

    def sizes(self) -> list[int | str | None]:
        return list(self.train_sizes) if self.train_sizes else [None]

    def runs(self) -> list[PlannedRun]:
        """Every run to train, seed by seed: the first seed of every method and size (and every
        deterministic method) before any second seed, so that an interrupted experiment has
        something to compare. Within a seed: methods in order, then sizes."""
        out = []
        for round_, seed in enumerate(self.seeds):
            for name, config in self.configs.items():
                if seeded(config):
                    if seed not in self.method_seeds.get(name, self.seeds):
                        continue
                elif round_ > 0:
                    continue
                for size in self.method_sizes.get(name, self.sizes()):
                    out.append(self._planned(name, config, size, seed if seeded(config) else None))
        return out

    def _planned(self, method: str, config: RunConfig, size, seed: int | None) -> PlannedRun:
        name = " ".join([method, *([] if size is None else [f"n={size}"]), *([] if seed is None else [f"seed {seed}"])])
        run = dataclasses.replace(
            config, params=with_seed(config, seed), output_dir=str(self.run_dir(method, seed, size)), name=name
        )
        return PlannedRun(method, size, seed, run)

    def run_dir(self, method: str, seed: int | None, size: int | str | None = None) -> Path:
        folder = Path(self.output_dir) / "runs" / method
        if size is not None:
            folder = folder / f"n-{size}"
        return folder / ("deterministic" if seed is None else f"seed-{seed}")

    def slices(self, ds) -> dict:
        """The splits each training size sees: ``{size: {split: TextDataset}}``, nested across sizes."""
        base = self.slice(ds, seed=self.data_seed)
        if "test" not in base:
            raise ExperimentError(f"{self.name}: the dataset has no test split to compare the methods on")
        out, train = {}, base["train"]
        beyond = [size for size in self.sizes() if size not in (None, ALL) and size > len(train)]
        if beyond:
            raise ExperimentError(
                f"{self.name}: train_sizes {beyond} ask for more than the {len(train)} rows of the "
                f"training slice; the largest is all of them: write {ALL} instead"
            )
        for size in sorted(self.sizes(), key=_size_order, reverse=True):
            if size not in (None, ALL):
                train = train.sample(size, seed=self.data_seed)  # a stratified sample of the next larger slice
            out[size] = {**base, "train": train}
        return out


def _size_order(size) -> float:
    return float("inf") if size in (None, ALL) else size


def _params(config: RunConfig) -> dict:
    return init_fields(method(config.method).params)


def seeded(config: RunConfig) -> bool:
    """Whether a seed changes what `config`'s method learns."""
    params = _params(config)
    return "training" in params or "seed" in params


def with_seed(config: RunConfig, seed: int | None) -> dict:
    """The method parameters with `seed` in ``training.seed`` (or ``seed``)."""
    params = dict(config.params)
    if seed is None:
        return params
    if "training" in _params(config):
        training = params.get("training")
        base = vars(training).copy() if isinstance(training, TrainingConfig) else dict(training or {})
        params["training"] = {**base, "seed": seed}
    else:
        params["seed"] = seed
    return params


def parse_experiment(raw: Any, source: str = "experiment") -> Experiment:
    """Validate a loaded YAML mapping (every method's parameters included) before anything trains."""
    check_fields(Experiment, raw, source)
    experiment = Experiment(**raw)
    if not experiment.methods:
        raise ConfigError(f"{source}: 'methods' must be a non-empty mapping of name -> method keys")
    if experiment.train_sizes is not None and experiment.train_size is not None:
        raise ConfigError(f"{source}: give 'train_sizes' (a learning curve) or 'train_size' (one slice), not both")
    shared = {k: raw[k] for k in ("data", "train_size", "validation_size", "test_size") if k in raw}
    for name, spec in experiment.methods.items():
        where = f"{source} methods.{name}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: must be a mapping with a 'method' key, not {type(spec).__name__}")
        clash = sorted(set(spec) & {"data", "train_size", "validation_size", "test_size", "output_dir", "name"})
        if clash:
            raise ConfigError(f"{where}: {clash[0]!r} is set for the whole experiment, not per method")
        spec = dict(spec)
        for key, allowed, store in (
            ("seeds", experiment.seeds, experiment.method_seeds),
            ("train_sizes", experiment.train_sizes, experiment.method_sizes),
        ):
            if key in spec:
                subset = spec.pop(key)
                if (
                    allowed is None
                    or not isinstance(subset, list)
                    or not subset
                    or not set(map(str, subset)) <= set(map(str, allowed))
                ):
                    raise ConfigError(
                        f"{where}: {key!r} must be a non-empty subset of the experiment's {key} "
                        f"{allowed!r}, got {subset!r}"
                    )
                store[str(name)] = subset
        experiment.configs[str(name)] = parse_config({**shared, **spec}, where)
    if experiment.reference is not None and experiment.reference not in experiment.configs:
        raise ConfigError(
            f"{source}: reference {experiment.reference!r} is not a method"
            f"{suggest(str(experiment.reference), experiment.configs)}; methods: "
            f"{', '.join(experiment.configs)}"
        )
    experiment.name = str(experiment.name or Path(source).stem)
    experiment.output_dir = str(experiment.output_dir or f"runs/{Path(source).stem}")
    experiment.reference = experiment.reference or next(iter(experiment.configs))
    return experiment


def restrict(experiment: Experiment, methods: list[str] | None = None, sizes: list[str] | None = None) -> Experiment:
    """Plan only `methods` (the reference among them) at only `sizes`. The slices are drawn as for the
    whole experiment and the run folders and specs are the same, so its other runs stay reusable."""
    if methods:
        unknown = [m for m in methods if m not in experiment.configs]
        if unknown:
            raise ConfigError(
                f"{experiment.name}: no method {unknown[0]!r}{suggest(unknown[0], experiment.configs)}; "
                f"methods: {', '.join(experiment.configs)}"
            )
        if experiment.reference not in methods:
            raise ConfigError(
                f"{experiment.name}: keep the reference {experiment.reference!r} among the methods, "
                "so the others are compared with it"
            )
        experiment.configs = {m: c for m, c in experiment.configs.items() if m in methods}
    if sizes:
        planned = {str(size): size for size in experiment.sizes()}
        if experiment.train_sizes is None or not set(sizes) <= set(planned):
            raise ConfigError(
                f"{experiment.name}: training sizes must be among the experiment's train_sizes "
                f"{experiment.train_sizes!r}, got {sizes!r}"
            )
        for name in experiment.configs:
            kept = [planned[s] for s in map(str, experiment.method_sizes.get(name, experiment.sizes())) if s in sizes]
            experiment.method_sizes[name] = kept
    return experiment


def load_experiment(path: str | Path) -> Experiment:
    return parse_experiment(read_yaml(path, "experiment"), str(path))
