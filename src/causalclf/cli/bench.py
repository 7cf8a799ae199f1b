"""`causalclf bench MODEL`: inference throughput, memory and FLOP utilisation per batch size."""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

from causalclf.bench import device_peak_flops, format_throughput, measure_throughput
from causalclf.cli.checks import data_spec, model_folder, output_file
from causalclf.data.loaders import load_dataset, read_texts
from causalclf.errors import UserError
from causalclf.methods import load_classifier


def run(args: Namespace) -> int:
    output_file(args.output, "-o")
    model_folder(args.model_dir)
    if args.input:
        texts, _ = read_texts(args.input, text=args.text)
        source = args.input
    else:
        ds = load_dataset(data_spec(args.data))
        if args.split not in ds:
            raise UserError(f"{args.data} has no split {args.split!r}; it has {', '.join(ds)}")
        texts, source = ds[args.split].texts, f"{args.data} {args.split}"
    texts = texts[: args.limit]
    clf = load_classifier(args.model_dir)
    device, peak = device_peak_flops()
    print(f"{args.model_dir}: {clf.method_name} classifier on {device}; {len(texts)} texts from {source}")
    results = measure_throughput(clf, texts, batch_sizes=args.batch_sizes, repeats=args.repeats)
    print(format_throughput(results))
    if args.output:
        record = {
            "model_dir": str(args.model_dir),
            "method": clf.method_name,
            "device": device,
            "peak_bf16_flops": peak,
            "texts": source,
            "results": [r.to_dict() for r in results],
        }
        Path(args.output).write_text(json.dumps(record, indent=2))
        print(f"wrote {args.output}")
    return 0
