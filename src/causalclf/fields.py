"""The typed-field checker: a dataclass's fields are a schema, and any mapping can be checked against it.

A knob is a dataclass field carrying its type (choices as `Literal`), its default, its help and,
optionally, a value check (``field(metadata={"help": ..., "check": positive})``, as PEFT writes its
configs). `check_fields` checks a mapping against such a dataclass: unknown keys (naming the closest
valid one), then every value's type at any depth, then every value's own check, each error naming
where it is. This module knows no schema: the schemas live next to what they configure (like
scikit-learn's ``_param_validation``, which sits below its estimators).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from causalclf.errors import ConfigError


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
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        Any: "anything",
        dict: "a mapping",
        list: "a list",
    }.get(hint, getattr(hint, "__name__", str(hint)))


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
        same_kind = [
            option
            for option in args
            if _container(option) is not None and isinstance(value, _container(option)) and not isinstance(value, str)
        ]
        if len(same_kind) == 1:
            raise errors[same_kind[0]]
        literal = [a for option in args if typing.get_origin(option) is Literal for a in typing.get_args(option)]
        hint_text = suggest(value, literal) if isinstance(value, str) else ""
        raise ConfigError(f"{where}: {value!r} is not {describe(hint)}{hint_text}")
    if hint is type(None):
        ok = value is None
    elif origin is Literal:
        if value not in args or isinstance(value, bool) != any(isinstance(a, bool) for a in args if a == value):
            raise ConfigError(
                f"{where}: {value!r} is not {describe(hint)}"
                + (suggest(value, [a for a in args if isinstance(a, str)]) if isinstance(value, str) else "")
            )
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


def check_fields(
    cls, values: Mapping[str, Any], where: str, known_elsewhere=(), shown: Mapping[str, str] | None = None
) -> None:
    """Check a mapping meant for the dataclass `cls`: its keys and every value's type (`check_types`), then every
    value's own ``check`` (`check_values`), so that a cheap mistake is named before any costly check runs.

    `known_elsewhere`: keys that are valid at this level for another reason (they are only
    offered as suggestions for a typo). `shown`: how a key is named in messages, when not by
    itself (a command-line flag).
    """
    check_types(cls, values, where, known_elsewhere, shown)
    check_values(cls, values, where, shown)


def check_types(
    cls, values: Mapping[str, Any], where: str, known_elsewhere=(), shown: Mapping[str, str] | None = None
) -> None:
    """The keys of `values` are fields of `cls` (the required ones present), and each value has its field's type."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected {describe(cls)}, got {type(values).__name__} {values!r}")
    fields = init_fields(cls)
    for key in values:
        if key not in fields:
            raise ConfigError(
                f"{where}: unknown key {key!r}{suggest(key, [*fields, *known_elsewhere])}; "
                f"{cls.__name__} accepts: {', '.join(sorted(fields))}"
            )
    missing = [name for name, f in fields.items() if name not in values and _required(f)]
    if missing:
        raise ConfigError(
            f"{where}: missing required key {missing[0]!r} ({fields[missing[0]].metadata.get('help', '')})"
        )
    hints, shown = type_hints(cls), shown or {}
    for key, value in values.items():
        check_value(value, hints[key], shown.get(key) or _at(where, key))


def check_values(cls, values: Mapping[str, Any], where: str, shown: Mapping[str, str] | None = None) -> None:
    """Each value of `values` (of the right type: `check_types`) passes its field's own ``check``."""
    fields, shown = init_fields(cls), shown or {}
    for key, value in values.items():
        check = fields[key].metadata.get("check")
        if check is not None and value is not None:
            check(value, shown.get(key) or _at(where, key))


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


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


def at_least(low: float, strict: bool = False) -> Callable[[Any, str], None]:
    def check(value, where):
        if value < low or (strict and value == low):
            raise ConfigError(f"{where}: {value!r} must be {'above' if strict else 'at least'} {low}")

    return check


def between(low: float, high: float) -> Callable[[Any, str], None]:
    def check(value, where):
        if not low <= value <= high:
            raise ConfigError(f"{where}: {value!r} must lie in [{low}, {high}]")

    return check


def existing_path(value: Any, where: str) -> None:
    if not Path(value).expanduser().exists():
        raise ConfigError(f"{where}: {value}: no such file or folder")


def each(check: Callable[[Any, str], None]) -> Callable[[Any, str], None]:
    """`check` on every item of a list."""

    def check_all(values, where):
        for i, value in enumerate(values):
            check(value, f"{where}[{i}]")

    return check_all


positive = at_least(0, strict=True)
non_negative = at_least(0)
fraction = between(0, 1)
port = between(0, 65535)


def read_yaml(path: str | Path, what: str = "config") -> Any:
    """The parsed content of a YAML file; a missing file or bad YAML is a ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} file {path} does not exist")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
