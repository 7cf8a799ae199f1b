"""Baselines on bbc-news: TF-IDF + logistic regression and a fine-tuned minilm-l6 encoder.

Reports macro-F1 and throughput (docs/s of `predict_proba`) of each on the test split and
writes them to bench/results/baselines_bbc.json. The full run trains on all 1,701 training
texts; on a shared 2-core CPU shrink it with --train-size / --limit / --epochs.

    python bench/baselines_bbc.py                                   # full size
    python bench/baselines_bbc.py --train-size 600 --epochs 2 --max-length 128
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = Path(__file__).resolve().parent / "results"


def subsample(texts: list[str], labels: list, n: int | None, seed: int) -> tuple[list[str], list]:
    """A stratified sample of `n` items (all of them when n is None or too large)."""
    if n is None or n >= len(texts):
        return list(texts), list(labels)
    from sklearn.model_selection import train_test_split

    texts, _, labels, _ = train_test_split(list(texts), list(labels), train_size=n, stratify=labels, random_state=seed)
    return texts, labels


def load_bbc(train_size: int | None, limit: int | None, seed: int) -> dict[str, tuple[list[str], list]]:
    """bbc-news train / validation / test, the first cut to `train_size`, the others to `limit`."""
    from causalclf.data import load_dataset

    ds = load_dataset("bbc-news")
    sizes = {"train": train_size, "validation": limit, "test": limit}
    return {name: subsample(ds[name].texts, ds[name].labels, n, seed) for name, n in sizes.items()}


def score(clf, texts: list[str], labels: list) -> dict:
    """Macro-F1 and accuracy on (texts, labels), and `predict_proba` throughput."""
    from sklearn.metrics import accuracy_score, f1_score

    start = time.perf_counter()
    proba = clf.predict_proba(texts)
    seconds = time.perf_counter() - start
    space = clf.label_space_
    truth, pred = space.encode(labels), space.encode(clf.decide(proba))
    return {
        "macro_f1": float(f1_score(truth, pred, average="macro")),
        "accuracy": float(accuracy_score(truth, pred)),
        "docs_per_s": len(texts) / seconds,
        "predict_seconds": seconds,
        "n_test": len(texts),
    }


def environment() -> dict:
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def fit_and_score(clf, splits: dict) -> dict:
    start = time.perf_counter()
    clf.fit(*splits["train"], validation=splits["validation"])
    fit_seconds = time.perf_counter() - start
    return {
        "params": clf.get_params(),
        "fit_seconds": fit_seconds,
        "trainable_parameters": clf.trainable_parameters,
        **score(clf, *splits["test"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=None, help="training texts (stratified sample)")
    parser.add_argument("--limit", type=int, default=None, help="validation and test texts (stratified sample)")
    parser.add_argument("--epochs", type=float, default=3.0, help="encoder epochs")
    parser.add_argument("--max-length", type=int, default=256, help="encoder tokens per text")
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="encoder peak learning rate")
    parser.add_argument("--batch-size", type=int, default=16, help="encoder training batch")
    parser.add_argument("--skip-encoder", action="store_true")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=RESULTS / "baselines_bbc.json")
    args = parser.parse_args()

    from causalclf import EncoderClassifier, TfidfClassifier

    splits = load_bbc(args.train_size, args.limit, args.seed)
    report = {
        "dataset": "bbc-news",
        "sizes": {k: len(v[0]) for k, v in splits.items()},
        "args": dict(vars(args), out=str(args.out)),
        "environment": environment(),
        "methods": {},
    }
    # TF-IDF uses validation only to tune multi-label thresholds: a no-op on bbc-news.
    report["methods"]["tfidf"] = fit_and_score(TfidfClassifier(), splits)
    print("tfidf", {k: report["methods"]["tfidf"][k] for k in ("macro_f1", "docs_per_s", "fit_seconds")}, flush=True)
    if not args.skip_encoder:
        encoder = EncoderClassifier(
            model="minilm-l6",
            max_length=args.max_length,
            training={
                "epochs": args.epochs,
                "learning_rate": args.learning_rate,
                "batch_size": args.batch_size,
                "seed": args.seed,
            },
        )
        report["methods"]["encoder_minilm_l6"] = fit_and_score(encoder, splits)
        result = encoder.train_result_
        report["methods"]["encoder_minilm_l6"]["train"] = {
            "steps": result.steps,
            "best_step": result.best_step,
            "best_validation_macro_f1": result.best_score,
        }
        summary = {k: report["methods"]["encoder_minilm_l6"][k] for k in ("macro_f1", "docs_per_s", "fit_seconds")}
        print("encoder", summary, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
