"""`causalclf quickstart`: the README's main job on the bundled defaults."""

from __future__ import annotations

from argparse import Namespace

from causalclf.quickstart import quickstart as run_quickstart


def run(args: Namespace) -> int:
    run_quickstart(output_dir=args.output_dir)
    return 0
