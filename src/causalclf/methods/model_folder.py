"""The model folder a classifier saves: ``causalclf.json`` (method, parameters, labels, thresholds,
temperature) beside what the method adds, and `read_config`, which reads it or says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

from causalclf.errors import UserError
from causalclf.methods.registry import methods

CONFIG_NAME = "causalclf.json"
FORMAT_VERSION = 2
"""2: parameters are the dataclass fields of the method (LoRA as peft.LoraConfig keys)."""


class ModelDirError(UserError, ValueError):
    """A folder that is not a readable causalclf model."""


def read_config(path: Path) -> dict:
    config_file = Path(path) / CONFIG_NAME
    if not config_file.is_file():
        raise ModelDirError(
            f"{path} is not a causalclf model folder (it has no {CONFIG_NAME}); "
            "give the model folder that `causalclf train` wrote (<output_dir>/model)"
        )
    try:
        config = json.loads(config_file.read_text())
        version, name = config.get("format_version", 0), config["method"]
        config["params"], config["label_space"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as e:
        raise ModelDirError(
            f"{config_file} is damaged ({type(e).__name__}: {e}); save or train the model again"
        ) from None
    if version != FORMAT_VERSION:
        newer = version > FORMAT_VERSION
        raise ModelDirError(
            f"{config_file} is in format {version}, this causalclf reads format {FORMAT_VERSION}: "
            + ("upgrade causalclf" if newer else "train the model again with this version")
        )
    if name not in methods():
        raise ModelDirError(f"{config_file} names an unknown method {name!r}")
    return config
