"""`causalclf predict` at volume: peak memory against input size, and token-budget batches.

1. Memory: peak RSS of `causalclf predict` (a subprocess; its own peak, from os.wait4) on a
   big input and on a small one, both AG News texts repeated (unique ids), with a TF-IDF model.
   Prediction streams chunk by chunk, so the big run should need no more memory than the small
   one: target big / small <= 1.2. Loading the model can set the peak, so the RSS is also
   sampled while the run goes: the largest sample of the run's second half is the predicting.
2. Token budget: docs/s of `predict_file` with token-budget batches (max_batch_tokens =
   batch_size x max_length, the same worst-case batch, and any `--budget-tokens` given) against
   fixed longest-first batches of batch_size, on a mix of short (AG News) and long (bbc-news)
   texts; the probabilities must agree to 1e-5. On a CPU a budget that packs many short texts
   into one batch can be slower per token than a smaller one (the activations leave the cache),
   so a sweep of budgets shows where this machine's optimum lies. For an embedding head (which
   packs its batches without padding by default), fixed batches are also run padded
   (``packing: false``), the batching `predict` had before packing, and every speedup is
   reported against that too.

Writes bench/results/predict_stream.json (see --out).

    python bench/predict_stream.py                                       # 200,000 vs 2,000 rows; budget on a tiny model
    python bench/predict_stream.py --big-rows 20000 --skip-budget        # memory only, small
    python bench/predict_stream.py --budget-model runs/bbc/model --budget-short 2000 --budget-long 500
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TARGET_RATIO = 1.2


def ag_news_texts() -> list[str]:
    from causalclf.data import load_dataset

    ds = load_dataset("ag_news")
    return [t for split in ds.values() for t in split.texts]


def write_input(path: Path, texts: list[str], rows: int) -> Path:
    """`rows` JSON lines cycling through `texts`, each made unique by its row number."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(rows):
            f.write(json.dumps({"text": f"{texts[i % len(texts)]} ({i})"}) + "\n")
    return path


def tfidf_model(folder: Path, train_size: int) -> Path:
    from causalclf import TfidfClassifier
    from causalclf.data import load_dataset

    train = load_dataset("ag_news")["train"]
    clf = TfidfClassifier().fit(train.texts[:train_size], train.labels[:train_size])
    return clf.save_pretrained(folder / "tfidf")


def _rss_mib(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone, or no /proc
        return None
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")), None)


def run_predict(model: Path, input: Path, output: Path, extra: list[str]) -> dict:
    """One `causalclf predict` subprocess: its peak RSS (its own, from os.wait4), its RSS sampled every
    50 ms (the model loads first, so the late samples show whether predicting grows), time and summary."""
    import threading

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "causalclf", "predict", str(model), str(input), "-o", str(output), *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples: list[float] = []
    finished = threading.Event()

    def sample() -> None:
        while not finished.wait(0.05):
            rss = _rss_mib(proc.pid)
            if rss is not None:
                samples.append(rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr = proc.stderr.read()  # until the child closes it, at exit
    finished.set()
    sampler.join()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{stderr[-2000:]}")
    summary = next(line for line in stderr.splitlines() if line.startswith("wrote "))
    late = samples[len(samples) // 2 :] or [float("nan")]
    return {
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "late_half_max_rss_mib": max(late),
        "rss_samples": len(samples),
        "seconds": seconds,
        "summary": summary,
        "output_mib": output.stat().st_size / 2**20,
    }


def memory(args, work: Path) -> dict:
    texts = ag_news_texts()
    model = args.tfidf_model or tfidf_model(work, args.tfidf_train)
    runs = {}
    for name, rows in (("small", args.small_rows), ("big", args.big_rows)):
        path = write_input(work / f"{name}.jsonl", texts, rows)
        runs[name] = {
            "rows": rows,
            "input_mib": path.stat().st_size / 2**20,
            **run_predict(model, path, work / f"{name}-out.{args.output_format}", args.predict_args),
        }
        print(
            name, {k: runs[name][k] for k in ("rows", "peak_rss_mib", "late_half_max_rss_mib", "seconds")}, flush=True
        )
    ratio = runs["big"]["peak_rss_mib"] / runs["small"]["peak_rss_mib"]
    print(f"peak RSS big / small = {ratio:.3f} (target <= {TARGET_RATIO})", flush=True)
    return {
        "model": str(model),
        "runs": runs,
        "peak_rss_ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "within_target": ratio <= TARGET_RATIO,
        "late_rss_ratio": runs["big"]["late_half_max_rss_mib"] / runs["small"]["late_half_max_rss_mib"],
    }


def tiny_head_model(folder: Path, max_length: int) -> Path:
    """A 2-layer random Llama with a trained linear head (frozen backbone): seconds to build."""
    sys.path.insert(0, str(REPO))
    from causalclf import EmbeddingHeadClassifier
    from tests.toy import build_tiny_llama, toy_single_label

    backbone = build_tiny_llama(folder / "tiny-llama")
    texts, labels = toy_single_label(8)
    clf = EmbeddingHeadClassifier(
        model=str(backbone),
        lora=None,
        max_length=max_length,
        training={"epochs": 2, "batch_size": 8, "progress_bar": False},
    )
    return clf.fit(texts, labels).save_pretrained(folder / "head")


def token_budget(args, work: Path) -> dict:
    import numpy as np
    import pandas as pd

    from causalclf.data import load_dataset
    from causalclf.inference import predict_file
    from causalclf.methods import load_classifier
    from causalclf.methods.model_folder import read_config

    short = ag_news_texts()[: args.budget_short]
    long = load_dataset("bbc-news")["test"].texts[: args.budget_long]
    mixed = [t for pair in zip(short, long) for t in pair] + short[len(long) :] + long[len(short) :]
    path = write_input(work / "mixed.jsonl", mixed, len(mixed))
    model = args.budget_model or tiny_head_model(work, args.budget_max_length)
    config = read_config(Path(model))
    max_length = config["params"]["max_length"]
    worst_case = args.budget_batch_size * max_length
    budgets = sorted({worst_case, *args.budget_tokens})
    settings = {
        "fixed": (model, {"batch_size": args.budget_batch_size}),
        **{f"budget-{n}": (model, {"max_batch_tokens": n}) for n in budgets},
    }
    packs = config["method"] == "embedding_head" and config["params"].get("packing") is not False
    if packs:
        padded = load_classifier(model).set_params(packing=False)
        settings["fixed-padded"] = (padded, {"batch_size": args.budget_batch_size})
    runs, tables = {}, {}
    for name, (clf, batching) in settings.items():
        out = work / f"mixed-{name}.parquet"
        summary = predict_file(clf, path, out, chunk_rows=args.chunk_rows, progress=False, **batching)
        tables[name] = pd.read_parquet(out)
        runs[name] = {**batching, "docs_per_second": summary.docs_per_second, "seconds": summary.predict_seconds}
        print(name, runs[name], flush=True)
    fixed = tables.pop("fixed")
    diff = max(
        float(np.abs(fixed.filter(like="proba_").to_numpy() - t.filter(like="proba_").to_numpy()).max())
        for t in tables.values()
    )
    same_labels = all(list(fixed.label) == list(t.label) for t in tables.values())
    return {
        "model": str(model),
        "max_length": max_length,
        "texts": {"short_ag_news": len(short), "long_bbc": len(long)},
        "runs": runs,
        "packing": packs,
        "speedup": {
            name: run["docs_per_second"] / runs["fixed"]["docs_per_second"]
            for name, run in runs.items()
            if name != "fixed"
        },
        **(
            {
                "speedup_vs_padded": {
                    name: run["docs_per_second"] / runs["fixed-padded"]["docs_per_second"]
                    for name, run in runs.items()
                    if name != "fixed-padded"
                }
            }
            if packs
            else {}
        ),
        "same_worst_case_budget": f"budget-{worst_case}",
        "max_abs_proba_diff": diff,
        "outputs_equal": diff <= 1e-5 and same_labels,
    }


def environment() -> dict:
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-rows", type=int, default=200_000)
    parser.add_argument("--small-rows", type=int, default=2_000)
    parser.add_argument("--tfidf-model", type=Path, help="a saved TF-IDF model (default: trained on AG News here)")
    parser.add_argument("--tfidf-train", type=int, default=5_000, help="AG News texts the default TF-IDF model sees")
    parser.add_argument("--output-format", default="jsonl", choices=["jsonl", "csv", "parquet"])
    parser.add_argument(
        "--predict-args",
        nargs=argparse.REMAINDER,
        default=[],
        help="more `causalclf predict` flags for the memory runs (last on the line)",
    )
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-budget", action="store_true")
    parser.add_argument(
        "--budget-model",
        type=Path,
        help="a saved embedding_head or encoder model (default: a tiny random Llama with a trained head)",
    )
    parser.add_argument("--budget-max-length", type=int, default=256, help="max_length of the default tiny model")
    parser.add_argument("--budget-short", type=int, default=2_000, help="AG News texts in the mix")
    parser.add_argument("--budget-long", type=int, default=400, help="bbc-news texts in the mix")
    parser.add_argument("--budget-batch-size", type=int, default=16)
    parser.add_argument(
        "--budget-tokens",
        type=int,
        nargs="*",
        default=[],
        help="more max_batch_tokens values to time beside batch size x max_length",
    )
    parser.add_argument("--chunk-rows", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=RESULTS / "predict_stream.json")
    args = parser.parse_args()

    report = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "environment": environment(),
    }
    with tempfile.TemporaryDirectory(prefix="predict-stream-") as tmp:
        if not args.skip_memory:
            report["memory"] = memory(args, Path(tmp))
        if not args.skip_budget:
            report["token_budget"] = token_budget(args, Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
