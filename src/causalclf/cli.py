"""The `causalclf` command line: train, compare, predict, evaluate, report, distill, bench, export, doctor,
serve, explain, quickstart.

A mistake of the user's (a config key, a path, a row, a model folder: any `UserError`) ends with one
paragraph on stderr and exit code 2, with no traceback unless ``--debug``; anything else is a bug and
keeps its traceback. Output paths, the model folder's config and the inputs are checked before any
model weights or data are loaded.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

# Nothing is fetched from a model hub at run time: every model is bundled, local or cached.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _data_spec(value: str):
    """A dataset argument as `load_dataset` takes it: a named dataset, a path, or the `data:` section
    of a YAML file (checked like a config's, before anything loads)."""
    from causalclf.config import check_data, read_yaml

    path = Path(value)
    spec = value
    if path.suffix in (".yaml", ".yml") and path.is_file():
        raw = read_yaml(path, "data")
        spec = raw["data"] if isinstance(raw, dict) and "data" in raw else raw
    check_data(spec, f"data {value}")
    return spec


def _plain_file(value: str) -> bool:
    """A data file or folder given as is: not a named dataset, nor a YAML file's data section (which
    says how the data was split for a run)."""
    from causalclf.data.loaders import NAMED

    return Path(value).suffix not in (".yaml", ".yml") and value.lower().replace("_", "-") not in NAMED


def _output_file(path: str | None, what: str) -> Path | None:
    """`path` if a file can be written there: its folder exists and is writable. Checked before any work."""
    from causalclf.errors import UserError

    if path is None:
        return None
    out = Path(path)
    if out.is_dir():
        raise UserError(f"{what} {out} is a folder; give a file path")
    folder = out.parent
    if not folder.is_dir():
        raise UserError(f"{what} {out}: the folder {folder} does not exist; create it first or choose another path")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{what} {out}: the folder {folder} is not writable")
    return out


def _model_folder(path: str) -> None:
    """Checks that `path` holds a readable causalclf model config: a wrong or damaged folder is named before
    any input is read, and the weights load only after the inputs are checked."""
    from causalclf.methods.base import read_config

    read_config(Path(path))


def _output_folder(path: str | Path, what: str) -> Path:
    """`path` if a folder can be made or written there (parents are created). Checked before any work."""
    from causalclf.errors import UserError

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UserError(f"{what} {out} is a file; give a folder")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not os.access(existing, os.W_OK):
        raise UserError(f"{what} {out}: {existing} is not writable")
    return out


def cmd_train(args) -> int:
    from causalclf.config import load_config
    from causalclf.evaluation import format_metrics
    from causalclf.pipeline import MODEL_DIR, run_training
    from causalclf.training import is_main_process

    config = load_config(args.config)
    if args.output_dir:
        config.output_dir = args.output_dir
    _output_folder(config.output_dir, "output_dir")
    metrics = run_training(config, resume=args.resume)
    if not is_main_process():  # under accelerate launch / torchrun the main process reports
        return 0
    if "macro_f1" in metrics:
        print(format_metrics(metrics))
    model_dir = Path(config.output_dir) / MODEL_DIR
    print(f"\nmodel saved to {model_dir}\npredict with: causalclf predict {model_dir} INPUT")
    return 0


def cmd_compare(args) -> int:
    from causalclf.experiments import load_experiment, restrict, run_experiment

    experiment = restrict(load_experiment(args.experiment), args.methods, args.train_sizes)
    if args.output_dir:
        experiment.output_dir = args.output_dir
    if args.seeds:
        experiment.seeds = args.seeds
    _output_folder(experiment.output_dir, "output_dir")
    run_experiment(experiment, train=not args.report_only)
    return 0


def cmd_predict(args) -> int:
    from causalclf.inference import predict_file

    try:
        summary = predict_file(args.model_dir, args.input, args.output, text=args.text, input_format=args.format,
                               output_format=args.output_format, encoding=args.encoding, on_error=args.on_error,
                               resume=args.resume, chunk_rows=args.chunk_rows, batch_size=args.batch_size,
                               max_batch_tokens=args.max_batch_tokens)
    except KeyboardInterrupt:
        if args.output:
            print("interrupted: the committed chunks are kept; continue with --resume", file=sys.stderr)
        raise
    if summary is not None:  # the main process reports for all
        print(summary, file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from causalclf.evaluation import format_metrics
    from causalclf.methods import load_classifier
    from causalclf.pipeline import evaluate

    from causalclf.data import load_dataset
    from causalclf.errors import UserError

    spec = _data_spec(args.data)
    whole = args.split is None and _plain_file(args.data)  # a plain file is scored whole unless a split is asked for
    split = "all" if whole else args.split or "test"
    run_dir = _output_folder(args.output or Path(args.model_dir).parent / f"eval-{split}", "-o")
    _model_folder(args.model_dir)
    ds = load_dataset(spec, split={"train": 1.0}) if whole else load_dataset(spec)
    if not whole and split not in ds:
        raise UserError(f"{args.data} has no split {split!r}; it has {', '.join(ds)}")
    clf = load_classifier(args.model_dir)
    part = ds["train"] if whole else ds[split]
    print(f"scoring {'every row' if whole else f'the {split} split'} of {args.data}: {len(part):,} texts "
          f"({ds.report.summary()})")
    metrics = evaluate(clf, part.texts, part.labels, run_dir, args.name or run_dir.name,
                       {"model_dir": str(args.model_dir), "dataset": args.data, "split": split})
    print(format_metrics(metrics))
    print(f"\nscored {metrics['n']:,} texts; run written to {run_dir}")
    return 0


def cmd_report(args) -> int:
    from causalclf.evaluation import write_report

    paths = write_report([Path(p) for p in args.run_dirs], _output_folder(args.output, "-o"), title=args.title)
    print(f"wrote {paths['markdown']} and {paths['html']}")
    return 0


def cmd_distill(args) -> int:
    from causalclf.data import read_texts
    from causalclf.methods import load_classifier
    from causalclf.methods.distill import distill
    from causalclf.methods.encoder import EncoderClassifier
    from causalclf.pipeline import MODEL_DIR, evaluate

    from causalclf.data import load_dataset

    spec = _data_spec(args.data)
    out = _output_folder(args.output, "-o")
    _model_folder(args.teacher_dir)
    unlabeled = read_texts(args.unlabeled)[0] if args.unlabeled else None
    ds = load_dataset(spec)
    teacher = load_classifier(args.teacher_dir)
    train, val, test = ds["train"], ds.get("validation"), ds.get("test")
    if args.train_size and args.train_size < len(train):
        train = train.sample(args.train_size)
    student = EncoderClassifier(model=args.student, max_length=args.max_length, int8_inference=args.int8_inference,
                                training={"epochs": args.epochs, "learning_rate": args.learning_rate})
    result = distill(teacher, student, texts=train.texts, labels=train.labels, unlabeled_texts=unlabeled,
                     validation=None if val is None else (val.texts, val.labels),
                     test=None if test is None else (test.texts, test.labels),
                     temperature=args.temperature, alpha=args.alpha)
    result.student.save_pretrained(out / MODEL_DIR)
    if test is not None:
        evaluate(result.student, test.texts, test.labels, out, out.name, {"model": args.student})
    (out / "distill.json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    print(json.dumps(result.to_dict(), indent=2, default=str))
    return 0


def cmd_bench(args) -> int:
    from causalclf.bench import device_peak_flops, format_throughput, measure_throughput
    from causalclf.data import read_texts
    from causalclf.methods import load_classifier

    from causalclf.data import load_dataset
    from causalclf.errors import UserError

    _output_file(args.output, "-o")
    _model_folder(args.model_dir)
    if args.input:
        texts, _ = read_texts(args.input, text=args.text)
        source = args.input
    else:
        ds = load_dataset(_data_spec(args.data))
        if args.split not in ds:
            raise UserError(f"{args.data} has no split {args.split!r}; it has {', '.join(ds)}")
        texts, source = ds[args.split].texts, f"{args.data} {args.split}"
    texts = texts[:args.limit]
    clf = load_classifier(args.model_dir)
    device, peak = device_peak_flops()
    print(f"{args.model_dir}: {clf.method_name} classifier on {device}; {len(texts)} texts from {source}")
    results = measure_throughput(clf, texts, batch_sizes=args.batch_sizes, repeats=args.repeats)
    print(format_throughput(results))
    if args.output:
        record = {"model_dir": str(args.model_dir), "method": clf.method_name, "device": device,
                  "peak_bf16_flops": peak, "texts": source, "results": [r.to_dict() for r in results]}
        Path(args.output).write_text(json.dumps(record, indent=2))
        print(f"wrote {args.output}")
    return 0


def cmd_export(args) -> int:
    from causalclf.export import export

    out = export(args.model_dir, args.output)
    print(f"exported {args.model_dir} to {out}")
    return 0


def cmd_doctor(args) -> int:
    from causalclf.data import read_texts
    from causalclf.doctor import diagnose, format_checks
    from causalclf.methods import load_classifier

    _model_folder(args.model_dir)
    texts = None
    if args.input:
        texts, _ = read_texts(args.input, text=args.text)
        texts = texts[:args.limit]
    clf = load_classifier(args.model_dir)
    print(f"{args.model_dir}: {clf.method_name} classifier, {len(clf.labels_)} labels "
          f"({'multi' if clf.multi_label else 'single'}-label)")
    checks = diagnose(clf, texts, tolerance=args.tolerance)
    print(format_checks(checks))
    failed = [c.name for c in checks if c.passed is False]
    print("all checks passed" if not failed else f"{len(failed)} check(s) failed: {', '.join(failed)}")
    return 1 if failed else 0


def cmd_serve(args) -> int:
    from dataclasses import fields

    from causalclf.serve import ServeOptions, serve

    serve(args.model_dir, host=args.host, port=args.port, **{f.name: getattr(args, f.name) for f in fields(ServeOptions)})
    return 0


def _add_serve_options(p: argparse.ArgumentParser) -> None:
    """One flag per `ServeOptions` field (``max_batch_size`` -> ``--max-batch-size``), help and default from it."""
    import typing
    from dataclasses import fields

    from causalclf.serve import ServeOptions

    hints = typing.get_type_hints(ServeOptions)
    for f in fields(ServeOptions):
        kind = next(t for t in (int, float, str) if t is hints[f.name] or t in typing.get_args(hints[f.name]))
        p.add_argument("--" + f.name.replace("_", "-"), type=kind, default=f.default,
                       help=f.metadata["help"] + (" (default: %(default)s)" if f.default is not None else ""))


def cmd_quickstart(args) -> int:
    from causalclf.quickstart import quickstart

    quickstart(output_dir=args.output_dir)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="causalclf", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a user error too")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train, save and evaluate one YAML config")
    p.add_argument("config", help="YAML run config (see configs/)")
    p.add_argument("--output-dir", help="override the config's output_dir")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its newest checkpoint (<output_dir>/checkpoints)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("compare", help="train every method x seed of a YAML experiment; write the comparison table")
    p.add_argument("experiment", help="YAML experiment (see configs/experiment_bbc.yaml)")
    p.add_argument("--output-dir", help="override the experiment's output_dir")
    p.add_argument("--seeds", type=int, nargs="+", help="override the experiment's seeds (e.g. one seed for a dry run)")
    p.add_argument("--methods", nargs="+", metavar="NAME",
                   help="run only these methods (the reference among them); the others' runs are kept")
    p.add_argument("--train-sizes", nargs="+", metavar="SIZE",
                   help="run only at these of the experiment's train_sizes (e.g. all); slices are drawn as for all")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: tables and reports of the runs finished so far, naming the missing ones")
    p.set_defaults(func=cmd_compare)

    from causalclf.data.readers import EXTENSIONS
    from causalclf.inference import DEFAULT_CHUNK_ROWS
    from causalclf.inference.sinks import OUTPUT_FORMATS

    p = sub.add_parser("predict", help="label the texts of a file of any size with a saved model (resumable; "
                                       "sharded under accelerate launch / torchrun)")
    p.add_argument("model_dir")
    p.add_argument("input", help="csv/tsv/jsonl/json/parquet/txt file (one text per line) or a folder of files "
                                 "(one text per file), read in chunks")
    p.add_argument("-o", "--output", help="a .jsonl, .csv or .parquet file (format from the extension), in a folder "
                                          "that exists; it must not exist yet (see --resume). Default: JSON lines on "
                                          "stdout")
    p.add_argument("--text", default="text", help="text column or template, e.g. '{title}\\n{abstract}'")
    p.add_argument("--format", default="auto", choices=["auto", *sorted({*EXTENSIONS.values(), "folder", "hf_disk"})],
                   help="input format (default: from the extension)")
    p.add_argument("--output-format", choices=OUTPUT_FORMATS, help="output format (default: from -o's extension; "
                                                                   "jsonl on stdout, where csv also works)")
    p.add_argument("--encoding", default="utf-8", help="text encoding of the input")
    p.add_argument("--resume", action="store_true",
                   help="continue the unfinished run writing -o (after a crash or a kill): the committed chunks are "
                        "kept, the rest predicted; refused if the model, input or settings differ")
    p.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                   help="a bad row (empty text, missing field, unparseable line, undecodable bytes): raise stops at "
                        "the first, named by file, line and column, before the model loads; skip leaves it out and "
                        "counts and lists it in the summary")
    p.add_argument("--chunk-rows", type=int, help=f"input rows predicted and committed together (default "
                                                  f"{DEFAULT_CHUNK_ROWS}; a resumed run keeps its own)")
    p.add_argument("--batch-size", type=int, help="texts per forward pass (default: the model's own)")
    p.add_argument("--max-batch-tokens", type=int,
                   help="token-budget batches: as many texts per forward pass as fit this many padded tokens, longest "
                        "first within each chunk, so memory is bounded whatever the text lengths (embedding_head and "
                        "encoder models; at least the model's max_length)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="score a saved model on a dataset split and write a run dir")
    p.add_argument("model_dir")
    p.add_argument("data", help="bundled dataset name, path, or YAML file with a data: section")
    p.add_argument("--split", help="score this split only (default: every row of a plain file; the test split of "
                                   "a named dataset or of data that comes split)")
    p.add_argument("-o", "--output", help="run directory (default: next to the model)")
    p.add_argument("--name", help="run name in reports")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report", help="Markdown + HTML report over run directories")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("-o", "--output", default="report")
    p.add_argument("--title", default="causalclf report")
    p.set_defaults(func=cmd_report)

    from causalclf.config import DistillConfig, TrainingConfig, field_option
    from causalclf.methods.encoder import FULL_FINETUNE_LEARNING_RATE, EncoderClassifier

    p = sub.add_parser("distill", help="distil a saved classifier into an encoder student")
    p.add_argument("teacher_dir")
    p.add_argument("data", help="bundled dataset name, path, or YAML file with a data: section")
    p.add_argument("-o", "--output", default="runs/distilled", help="folder for the student and its test run")
    field_option(p, EncoderClassifier, "model", "--student")
    for name in ("temperature", "alpha", "unlabeled"):
        field_option(p, DistillConfig, name)
    field_option(p, TrainingConfig, "epochs")
    field_option(p, TrainingConfig, "learning_rate", default=FULL_FINETUNE_LEARNING_RATE)
    for name in ("max_length", "int8_inference"):
        field_option(p, EncoderClassifier, name)
    p.add_argument("--train-size", type=int, help="a stratified sample of the training split (rows)")
    p.set_defaults(func=cmd_distill)

    p = sub.add_parser("explain", help="every config key of a method (or of run, training, data, distill, "
                                       "experiment, lora): type, default and help")
    p.add_argument("topic", nargs="?", help="a method (embedding_head, instruction, prompt, encoder, tfidf) or run, "
                                            "training, data, distill, experiment, lora; none lists the topics")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("bench", help="inference throughput, memory and MFU of a saved model, per batch size")
    p.add_argument("model_dir")
    p.add_argument("--input", help="texts to time (any predict input); default: --data's --split")
    p.add_argument("--text", default="text", help="text column or template of --input")
    p.add_argument("--data", default="bbc-news", help="dataset to take texts from when no --input is given")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=256, help="time at most this many texts")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--repeats", type=int, default=3, help="timed passes per batch size (the fastest is kept)")
    p.add_argument("-o", "--output", help="also write the results as JSON here")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("export", help="write a saved model as a standard Hugging Face checkpoint (LoRA merged), "
                                      "for transformers' pipeline and vLLM's pooling runner")
    p.add_argument("model_dir")
    p.add_argument("output", help="a new or empty folder")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("doctor", help="check a saved model: valid, deterministic, padding-invariant, round-trips")
    p.add_argument("model_dir")
    p.add_argument("--input", help="texts to probe with (any predict input); default: built-in probes")
    p.add_argument("--text", default="text", help="text column or template of --input")
    p.add_argument("--limit", type=int, default=16, help="probe with at most this many texts of --input")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest probability difference accepted (raise it for bf16 or 4-bit models)")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("serve", help="HTTP inference for a saved model: /classify (vLLM's API), /predict, /metrics, "
                                      "/docs (needs the serve extra)")
    p.add_argument("model_dir")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    _add_serve_options(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("quickstart", help="the README's main job on the bundled defaults")
    p.add_argument("--output-dir", default="runs/quickstart")
    p.set_defaults(func=cmd_quickstart)
    return parser


def cmd_explain(args) -> int:
    from causalclf.config import TOPICS, explain_topic

    if args.topic is None:
        print("causalclf explain TOPIC; topics:\n" + "\n".join(f"  {name:16s} {what}" for name, what in TOPICS.items()))
        return 0
    print(explain_topic(args.topic))
    return 0


QUIET_LOGGERS = {
    # kernels (which transformers installs for bitsandbytes) logs at every import, offline, that it skips a
    # publisher check for a Hub kernel that causalclf never fetches.
    "kernels": logging.ERROR,
    # bitsandbytes' CPU backend, on CPUs with AVX512-BF16, that it could not fetch that same optional kernel.
    "bitsandbytes.backends.cpu.ops": logging.ERROR,
}
"""Third-party loggers whose lines tell a user nothing to act on, and the lowest level of theirs that shows.
Set by name at the entry point, before any of them is imported; every other library's warnings still show."""


def configure_logging() -> None:
    """causalclf's own messages at INFO; other libraries' at WARNING, but `QUIET_LOGGERS`."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("causalclf").setLevel(logging.INFO)
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


def main(argv: list[str] | None = None) -> int:
    from causalclf.errors import UserError

    configure_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.getLogger("causalclf").setLevel(logging.DEBUG)
    try:
        return args.func(args)
    except (UserError, ImportError) as e:  # ImportError: an optional extra (serve, gpu) or a bundled package missing
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
