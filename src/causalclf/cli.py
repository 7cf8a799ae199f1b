"""The `causalclf` command line: train, compare, predict, evaluate, report, distill, bench, doctor, serve,
quickstart."""
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


def _load_data_arg(value: str):
    """A dataset argument: a bundled name, a path, or a YAML file with a `data:` section."""
    from causalclf.data import load_dataset

    path = Path(value)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        import yaml

        raw = yaml.safe_load(path.read_text())
        return load_dataset(raw["data"] if isinstance(raw, dict) and "data" in raw else raw)
    return load_dataset(value)


def cmd_train(args) -> int:
    from causalclf.config import load_config
    from causalclf.evaluation import format_metrics
    from causalclf.pipeline import MODEL_DIR, run_training

    config = load_config(args.config)
    if args.output_dir:
        config.output_dir = args.output_dir
    metrics = run_training(config)
    if "macro_f1" in metrics:
        print(format_metrics(metrics))
    model_dir = Path(config.output_dir) / MODEL_DIR
    print(f"\nmodel saved to {model_dir}\npredict with: causalclf predict {model_dir} INPUT")
    return 0


def cmd_compare(args) -> int:
    from causalclf.experiments import load_experiment, run_experiment

    experiment = load_experiment(args.experiment)
    if args.output_dir:
        experiment.output_dir = args.output_dir
    if args.seeds:
        experiment.seeds = args.seeds
    run_experiment(experiment)
    return 0


def cmd_predict(args) -> int:
    from causalclf.data import read_texts
    from causalclf.methods import load_classifier

    clf = load_classifier(args.model_dir)
    texts, ids = read_texts(args.input, text=args.text)
    predictions = clf.predict_with_proba(texts)
    rows = predictions.proba if predictions.proba is not None else [None] * len(texts)
    out = open(args.output, "w") if args.output else sys.stdout
    try:
        for i, label, p in zip(ids, predictions.labels, rows):
            record = {"id": i, "label": label}
            if p is not None:
                record["proba"] = dict(zip(clf.labels_, map(float, p)))
            out.write(json.dumps(record) + "\n")
    finally:
        if args.output:
            out.close()
            print(f"wrote {len(texts)} predictions to {args.output}", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from causalclf.evaluation import format_metrics
    from causalclf.methods import load_classifier
    from causalclf.pipeline import evaluate

    clf = load_classifier(args.model_dir)
    ds = _load_data_arg(args.data)
    if args.split not in ds:
        raise SystemExit(f"error: the dataset has no split {args.split!r}; it has {list(ds)}")
    part = ds[args.split]
    run_dir = Path(args.output or Path(args.model_dir).parent / f"eval-{args.split}")
    metrics = evaluate(clf, part.texts, part.labels, run_dir, args.name or run_dir.name,
                       {"model_dir": str(args.model_dir), "dataset": args.data, "split": args.split})
    print(format_metrics(metrics))
    print(f"\nrun written to {run_dir}")
    return 0


def cmd_report(args) -> int:
    from causalclf.evaluation import write_report

    paths = write_report([Path(p) for p in args.run_dirs], Path(args.output), title=args.title)
    print(f"wrote {paths['markdown']} and {paths['html']}")
    return 0


def cmd_distill(args) -> int:
    from causalclf.data import read_texts
    from causalclf.methods import load_classifier
    from causalclf.methods.distill import distill
    from causalclf.methods.encoder import EncoderClassifier
    from causalclf.pipeline import MODEL_DIR, evaluate

    teacher = load_classifier(args.teacher_dir)
    ds = _load_data_arg(args.data)
    train, val, test = ds["train"], ds.get("validation"), ds.get("test")
    if args.train_size and args.train_size < len(train):
        train = train.sample(args.train_size)
    training = {"epochs": args.epochs, **({"learning_rate": args.learning_rate} if args.learning_rate else {})}
    student = EncoderClassifier(model=args.student, max_length=args.max_length, training=training,
                                int8_inference=args.int8_inference)
    unlabeled = read_texts(args.unlabeled)[0] if args.unlabeled else None
    result = distill(teacher, student, texts=train.texts, labels=train.labels, unlabeled_texts=unlabeled,
                     validation=None if val is None else (val.texts, val.labels),
                     test=None if test is None else (test.texts, test.labels),
                     temperature=args.temperature, alpha=args.alpha)
    out = Path(args.output)
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

    clf = load_classifier(args.model_dir)
    if args.input:
        texts, _ = read_texts(args.input, text=args.text)
        source = args.input
    else:
        ds = _load_data_arg(args.data)
        if args.split not in ds:
            raise SystemExit(f"error: the dataset has no split {args.split!r}; it has {list(ds)}")
        texts, source = ds[args.split].texts, f"{args.data} {args.split}"
    texts = texts[:args.limit]
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


def cmd_doctor(args) -> int:
    from causalclf.data import read_texts
    from causalclf.doctor import diagnose, format_checks
    from causalclf.methods import load_classifier

    clf = load_classifier(args.model_dir)
    texts = None
    if args.input:
        texts, _ = read_texts(args.input, text=args.text)
        texts = texts[:args.limit]
    print(f"{args.model_dir}: {clf.method_name} classifier, {len(clf.labels_)} labels "
          f"({'multi' if clf.multi_label else 'single'}-label)")
    checks = diagnose(clf, texts, tolerance=args.tolerance)
    print(format_checks(checks))
    failed = [c.name for c in checks if c.passed is False]
    print("all checks passed" if not failed else f"{len(failed)} check(s) failed: {', '.join(failed)}")
    return 1 if failed else 0


def cmd_serve(args) -> int:
    from causalclf.serve import serve

    serve(args.model_dir, host=args.host, port=args.port)
    return 0


def cmd_quickstart(args) -> int:
    from causalclf.quickstart import quickstart

    quickstart(output_dir=args.output_dir)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="causalclf", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train, save and evaluate one YAML config")
    p.add_argument("config", help="YAML run config (see configs/)")
    p.add_argument("--output-dir", help="override the config's output_dir")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("compare", help="train every method x seed of a YAML experiment; write the comparison table")
    p.add_argument("experiment", help="YAML experiment (see configs/experiment_bbc.yaml)")
    p.add_argument("--output-dir", help="override the experiment's output_dir")
    p.add_argument("--seeds", type=int, nargs="+", help="override the experiment's seeds (e.g. one seed for a dry run)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("predict", help="label texts with a saved model (JSON lines out)")
    p.add_argument("model_dir")
    p.add_argument("input", help="csv/tsv/jsonl/parquet/txt file (one text per line) or a folder of files")
    p.add_argument("-o", "--output", help="write JSON lines here instead of stdout")
    p.add_argument("--text", default="text", help="text column or template, e.g. '{title}\\n{abstract}'")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="score a saved model on a dataset split and write a run dir")
    p.add_argument("model_dir")
    p.add_argument("data", help="bundled dataset name, path, or YAML file with a data: section")
    p.add_argument("--split", default="test")
    p.add_argument("-o", "--output", help="run directory (default: next to the model)")
    p.add_argument("--name", help="run name in reports")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report", help="Markdown + HTML report over run directories")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("-o", "--output", default="report")
    p.add_argument("--title", default="causalclf report")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("distill", help="distil a saved classifier into an encoder student")
    p.add_argument("teacher_dir")
    p.add_argument("data")
    p.add_argument("-o", "--output", default="runs/distilled")
    p.add_argument("--student", default="minilm-l6")
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--learning-rate", type=float, help="student peak learning rate (default 5e-5, full fine-tuning)")
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--train-size", type=int)
    p.add_argument("--unlabeled", help="more texts (any predict input) the student learns from the teacher's soft labels")
    p.add_argument("--int8-inference", action="store_true", help="the student predicts in int8 on CPU (about 2x faster)")
    p.set_defaults(func=cmd_distill)

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

    p = sub.add_parser("doctor", help="check a saved model: valid, deterministic, padding-invariant, round-trips")
    p.add_argument("model_dir")
    p.add_argument("--input", help="texts to probe with (any predict input); default: built-in probes")
    p.add_argument("--text", default="text", help="text column or template of --input")
    p.add_argument("--limit", type=int, default=16, help="probe with at most this many texts of --input")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest probability difference accepted (raise it for bf16 or 4-bit models)")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("serve", help="HTTP inference for a saved model (needs the serve extra)")
    p.add_argument("model_dir")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("quickstart", help="the README's main job on the bundled defaults")
    p.add_argument("--output-dir", default="runs/quickstart")
    p.set_defaults(func=cmd_quickstart)
    return parser


def main(argv: list[str] | None = None) -> int:
    from causalclf.config import ConfigError
    from causalclf.data import DataError
    from causalclf.experiments import ExperimentError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ConfigError, DataError, ExperimentError, FileNotFoundError, ModuleNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
