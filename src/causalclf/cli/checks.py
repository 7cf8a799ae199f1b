"""What the commands check before any work: where outputs go, that a model folder reads, what a data argument
means."""

from __future__ import annotations

import os
from pathlib import Path

from causalclf.data.spec import check_data, named
from causalclf.errors import UserError
from causalclf.fields import read_yaml
from causalclf.methods.model_folder import read_config


def data_spec(value: str):
    """A dataset argument as `load_dataset` takes it: a named dataset, a path, or the `data:` section
    of a YAML file (checked like a config's, before anything loads)."""
    path = Path(value)
    spec = value
    if path.suffix in (".yaml", ".yml") and path.is_file():
        raw = read_yaml(path, "data")
        spec = raw["data"] if isinstance(raw, dict) and "data" in raw else raw
    check_data(spec, f"data {value}")
    return spec


def plain_file(value: str) -> bool:
    """A data file or folder given as is: not a named dataset, nor a YAML file's data section (which
    says how the data was split for a run)."""
    return Path(value).suffix not in (".yaml", ".yml") and not named(value)


def output_file(path: str | None, what: str) -> Path | None:
    """`path` if a file can be written there: its folder exists and is writable. Checked before any work."""
    if path is None:
        return None
    out = Path(path)
    if out.is_dir():
        raise UserError(f"{what} {out} is a folder; give a file path")
    folder = out.parent
    if not folder.is_dir():
        raise UserError(f"{what} {out}: the folder {folder} does not exist; create it first or choose another path")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{what} {out}: the folder {folder} is not writable")
    return out


def model_folder(path: str) -> None:
    """Checks that `path` holds a readable causalclf model config: a wrong or damaged folder is named before
    any input is read, and the weights load only after the inputs are checked."""
    read_config(Path(path))


def output_folder(path: str | Path, what: str) -> Path:
    """`path` if a folder can be made or written there (parents are created). Checked before any work."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UserError(f"{what} {out} is a file; give a folder")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not os.access(existing, os.W_OK):
        raise UserError(f"{what} {out}: {existing} is not writable")
    return out
