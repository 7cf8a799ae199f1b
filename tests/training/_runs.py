"""Toy runs for the training tests: run configs, the command line as a subprocess, what a run wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from tests.conftest import REPO


def write_config(folder: Path, toy_file: Path, name: str = "run", **method) -> Path:
    """A run config training on `toy_file` into ``folder/name``."""
    cfg = {
        "data": {"path": str(toy_file), "text": "body", "label": "topic"},
        "output_dir": str(folder / name),
        **method,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run(*argv: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """A command in the repository (``-m causalclf ...``, ``-m tests.training.harness ...``), one thread each."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        **(env or {}),
    }
    done = subprocess.run(list(argv), cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"{argv} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return done


def causalclf(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "causalclf", *argv, check=check)


def interrupted(step: int, signal_name: str, *argv: str) -> subprocess.CompletedProcess:
    """`causalclf argv` sent `signal_name` (KILL, TERM) at the end of update `step`."""
    return run(
        sys.executable, "-m", "tests.training.harness", "--signal-at", str(step), signal_name, "--", *argv, check=False
    )


def probabilities(run_dir: Path) -> np.ndarray:
    """The test-set probabilities a run folder recorded."""
    lines = (run_dir / "predictions.jsonl").read_text().splitlines()
    return np.array([json.loads(line)["proba"] for line in lines])


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def accelerate_environment(config: Path) -> dict[str, str]:
    """The environment ``accelerate launch --config_file config`` gives its processes, from accelerate's own
    launcher code (no process is started)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(config), "-m", "causalclf", "train", "x.yaml"])
    args, defaults, mixed_precision_from_config = _validate_launch_command(args)
    if not args.use_deepspeed:
        return prepare_multi_gpu_env(args)
    # As `accelerate launch` does before it starts DeepSpeed.
    fields = list(defaults.deepspeed_config) + (["mixed_precision"] if mixed_precision_from_config else [])
    args.deepspeed_fields_from_accelerate_config = ",".join(fields)
    return prepare_deepspeed_cmd_env(args)[1]
