"""`causalclf train CONFIG`: train, save and evaluate one YAML run config."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from causalclf import processes
from causalclf.cli.checks import output_folder
from causalclf.evaluation.metrics import format_metrics
from causalclf.pipeline import MODEL_DIR, run_training
from causalclf.run_config import load_config


def run(args: Namespace) -> int:
    config = load_config(args.config)
    if args.output_dir:
        config.output_dir = args.output_dir
    output_folder(config.output_dir, "output_dir")
    metrics = run_training(config, resume=args.resume)
    if not processes.current().is_main:  # under accelerate launch / torchrun the main process reports
        return 0
    if "macro_f1" in metrics:
        print(format_metrics(metrics))
    model_dir = Path(config.output_dir) / MODEL_DIR
    print(f"\nmodel saved to {model_dir}\npredict with: causalclf predict {model_dir} INPUT")
    return 0
