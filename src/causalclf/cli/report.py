"""`causalclf report RUN...`: Markdown and HTML report over run directories."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from causalclf.cli.checks import output_folder
from causalclf.evaluation.report import write_report


def run(args: Namespace) -> int:
    paths = write_report([Path(p) for p in args.run_dirs], output_folder(args.output, "-o"), title=args.title)
    print(f"wrote {paths['markdown']} and {paths['html']}")
    return 0
