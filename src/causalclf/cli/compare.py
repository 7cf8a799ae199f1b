"""`causalclf compare EXPERIMENT`: every method x seed (x training size) of an experiment, and its tables."""

from __future__ import annotations

from argparse import Namespace

from causalclf.cli.checks import output_folder
from causalclf.experiments.runner import run_experiment
from causalclf.experiments.spec import load_experiment, restrict


def run(args: Namespace) -> int:
    experiment = restrict(load_experiment(args.experiment), args.methods, args.train_sizes)
    if args.output_dir:
        experiment.output_dir = args.output_dir
    if args.seeds:
        experiment.seeds = args.seeds
    output_folder(experiment.output_dir, "output_dir")
    run_experiment(experiment, train=not args.report_only)
    return 0
