"""`causalclf predict MODEL INPUT`: label a file of any size (chunked, resumable, sharded)."""

from __future__ import annotations

import sys
from argparse import Namespace

from causalclf.inference.runner import predict_file


def run(args: Namespace) -> int:
    try:
        summary = predict_file(
            args.model_dir,
            args.input,
            args.output,
            text=args.text,
            input_format=args.format,
            output_format=args.output_format,
            encoding=args.encoding,
            on_error=args.on_error,
            resume=args.resume,
            chunk_rows=args.chunk_rows,
            batch_size=args.batch_size,
            max_batch_tokens=args.max_batch_tokens,
        )
    except KeyboardInterrupt:
        if args.output:
            print("interrupted: the committed chunks are kept; continue with --resume", file=sys.stderr)
        raise
    if summary is not None:  # the main process reports for all
        print(summary, file=sys.stderr)
    return 0
