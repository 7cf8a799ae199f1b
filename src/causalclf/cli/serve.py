"""`causalclf serve`: the HTTP server (`causalclf.serve`, which needs the serve extra)."""

from __future__ import annotations

from argparse import Namespace
from dataclasses import fields

from causalclf import serve as server


def run(args: Namespace) -> int:
    server.serve(
        args.model_dir,
        host=args.host,
        port=args.port,
        **{f.name: getattr(args, f.name) for f in fields(server.ServeOptions)},
    )
    return 0
