"""`causalclf export`: a saved model as a standard Hugging Face checkpoint (`causalclf.export`, torch)."""

from __future__ import annotations

from argparse import Namespace

from causalclf.export import export as export_model


def run(args: Namespace) -> int:
    out = export_model(args.model_dir, args.output)
    print(f"exported {args.model_dir} to {out}")
    return 0
