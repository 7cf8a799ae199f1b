"""`causalclf distill TEACHER DATA`: a saved classifier teaches an encoder student."""

from __future__ import annotations

import json
from argparse import Namespace

from causalclf.cli.checks import data_spec, model_folder, output_folder
from causalclf.data.loaders import load_dataset
from causalclf.distillation.config import DistillConfig
from causalclf.methods import load_classifier
from causalclf.pipeline import distill_and_evaluate


def run(args: Namespace) -> int:
    spec = DistillConfig(
        student={
            "model": args.model,
            "max_length": args.max_length,
            "int8_inference": args.int8_inference,
            "training": {"epochs": args.epochs, "learning_rate": args.learning_rate},
        },
        temperature=args.temperature,
        alpha=args.alpha,
        unlabeled=args.unlabeled,
    )
    data = data_spec(args.data)
    out = output_folder(args.output, "-o")
    model_folder(args.teacher_dir)
    ds = load_dataset(data)
    splits = dict(ds)
    if args.train_size and args.train_size < len(splits["train"]):
        splits["train"] = splits["train"].sample(args.train_size)
    result = distill_and_evaluate(load_classifier(args.teacher_dir), splits, spec, out, out.name, args.teacher_dir)
    print(json.dumps(result, indent=2, default=str))
    return 0
