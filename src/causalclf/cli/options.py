"""Command-line arguments made from dataclass fields, and checked by those fields once parsed.

`Options(schema)` adds one argument per field of the dataclass `schema` (``max_batch_size`` ->
``--max-batch-size``; a field whose metadata says ``positional`` is a positional argument) with the
field's help and default. Values are converted leniently (``"8"`` -> 8, ``"abc"`` stays a string), so
that `fields.check_fields` names every wrong value in the same words as in a YAML config, with the flag
it came from, before any work.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from causalclf.fields import check_fields, default_of, init_fields, type_hints


@dataclass(frozen=True)
class Options:
    """The fields `names` (all when None) of the dataclass `schema` as arguments of one command."""

    schema: type
    names: tuple[str, ...] | None = None
    flags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Flags of a field, when not ``--field-name`` (e.g. ``{"output": ("-o", "--output")}``)."""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Defaults that differ on the command line from the field's own."""

    def fields(self) -> dict[str, dataclasses.Field]:
        every = init_fields(self.schema)
        return {name: every[name] for name in (self.names or every)}

    def flag(self, name: str) -> str:
        """How `name` is written on the command line (the last of its flags, or the positional's name)."""
        f = init_fields(self.schema)[name]
        if f.metadata.get("positional"):
            return name
        return self.flags.get(name, ("--" + name.replace("_", "-"),))[-1]

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        hints = type_hints(self.schema)
        for name, f in self.fields().items():
            default = self.defaults.get(name, default_of(f))
            help_text = " ".join(str(f.metadata.get("help", "")).split()).replace("%", "%%")
            kwargs: dict[str, Any] = {"help": help_text}
            kind, many = argument_type(hints[name])
            if kind is bool:
                kwargs["action"] = argparse.BooleanOptionalAction
            else:
                kwargs["type"] = lenient(kind)
                if many:
                    kwargs["nargs"] = "+"
                choices = choices_of(hints[name])
                if choices:
                    kwargs["metavar"] = "{" + ",".join(map(str, choices)) + "}"
            if f.metadata.get("positional"):
                if default is not dataclasses.MISSING:
                    kwargs.update(nargs="?", default=default)
                parser.add_argument(name, **kwargs)
                continue
            if default is not dataclasses.MISSING:
                kwargs["default"] = default
                if default is not None and kind is not bool:
                    kwargs["help"] += f" (default: {_shown(default)})"
            parser.add_argument(*self.flags.get(name, ("--" + name.replace("_", "-"),)), dest=name, **kwargs)

    def values(self, args: argparse.Namespace) -> dict[str, Any]:
        """The parsed values of these fields, checked as `schema` checks them (a `ConfigError` naming the flag)."""
        values = {name: getattr(args, name) for name in self.fields()}
        check_fields(self.schema, values, "options", shown={name: self.flag(name) for name in values})
        return values


def argument_type(hint) -> tuple[type, bool]:
    """(the type one value converts to, whether the argument takes several)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return argument_type(options[0]) if options else (str, False)
    if origin is list:
        return argument_type(args[0])[0] if args else str, True
    if origin is Literal:
        return type(args[0]), False
    return (hint if hint in (bool, int, float, str) else str), False


def choices_of(hint) -> list | None:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return next(filter(None, (choices_of(a) for a in args)), None)
    return list(args) if origin is Literal else None


def lenient(kind: type):
    """A converter to `kind` that hands a value it cannot convert on unchanged, for the field check to name."""

    def convert(text: str):
        try:
            return kind(text)
        except ValueError:
            return text

    convert.__name__ = kind.__name__
    return convert


def _shown(default: Any) -> str:
    return " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
