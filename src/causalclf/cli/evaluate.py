"""`causalclf evaluate MODEL DATA`: score a saved model on a dataset split and write a run."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from causalclf.cli.checks import data_spec, model_folder, output_folder, plain_file
from causalclf.data.loaders import load_dataset
from causalclf.errors import UserError
from causalclf.evaluation.metrics import format_metrics
from causalclf.methods import load_classifier
from causalclf.pipeline import evaluate as evaluate_run


def run(args: Namespace) -> int:
    spec = data_spec(args.data)
    whole = args.split is None and plain_file(args.data)  # a plain file is scored whole unless a split is asked for
    split = "all" if whole else args.split or "test"
    run_dir = output_folder(args.output or Path(args.model_dir).parent / f"eval-{split}", "-o")
    model_folder(args.model_dir)
    ds = load_dataset(spec, split={"train": 1.0}) if whole else load_dataset(spec)
    if not whole and split not in ds:
        raise UserError(f"{args.data} has no split {split!r}; it has {', '.join(ds)}")
    clf = load_classifier(args.model_dir)
    part = ds["train"] if whole else ds[split]
    print(
        f"scoring {'every row' if whole else f'the {split} split'} of {args.data}: {len(part):,} texts "
        f"({ds.report.summary()})"
    )
    metrics = evaluate_run(
        clf,
        part.texts,
        part.labels,
        run_dir,
        args.name or run_dir.name,
        {"model_dir": str(args.model_dir), "dataset": args.data, "split": split},
    )
    print(format_metrics(metrics))
    print(f"\nscored {metrics['n']:,} texts; run written to {run_dir}")
    return 0
