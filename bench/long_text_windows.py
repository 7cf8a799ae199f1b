"""Does a head trained on each article's first `max_length` tokens gain by reading the rest? (issue 13)

bbc-news articles run to 442 tokens at the median and the 256-token head reads only their
start. The cheapest way to read more needs no retraining: cut each text into consecutive
windows of `max_length` tokens, score every window with the trained head, and average over
the first `w` windows (logits, or probabilities). This script measures that on the saved
heads of `compare configs/experiment_bbc_full.yaml`, on the experiment's own validation and
test splits, for w = 1 (what the head does now) up to 8 windows.

Writes bench/results/long_text_windows_bbc.json. Needs the finished runs and ../shared/data:

    python bench/long_text_windows.py --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.special import log_softmax, softmax
from sklearn.metrics import f1_score

from causalclf.data import load_dataset
from causalclf.experiments.spec import load_experiment
from causalclf.methods import load_classifier
from causalclf.runtime.batching import batched

WINDOWS = (1, 2, 3, 4, 8)


def window_logits(clf, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(logits per window, the text each window belongs to, its rank within that text), up to 8 windows."""
    enc = clf.tokenizer_(texts, truncation=True, max_length=clf.max_length, return_overflowing_tokens=True)
    owner = np.asarray(enc["overflow_to_sample_mapping"])
    rank = np.concatenate([np.arange(n) for n in np.bincount(owner, minlength=len(texts))])
    keep = rank < max(WINDOWS)
    rows = [
        {"input_ids": i, "attention_mask": m} for i, m, k in zip(enc["input_ids"], enc["attention_mask"], keep) if k
    ]
    model = clf._inference_model()
    logits = batched(
        lambda batch: model(**batch)["logits"],
        rows,
        clf._collate,
        clf.batch_size,
        "windows",
        next(model.parameters()).device,
    )
    return logits, owner[keep], rank[keep]


def scores(logits, owner, rank, y, n: int) -> dict:
    out = {}
    for w in WINDOWS:
        use = rank < w
        for name, transform in (
            ("mean_logits", lambda x: x),
            ("mean_probs", lambda x: softmax(x, -1)),
            ("mean_log_probs", lambda x: log_softmax(x, -1)),
        ):
            summed = np.zeros((n, logits.shape[1]))
            np.add.at(summed, owner[use], transform(logits[use]))
            out[f"{name}_w{w}"] = round(float(f1_score(y, summed.argmax(1), average="macro")), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="configs/experiment_bbc_full.yaml")
    parser.add_argument("--method", default="embedding-head")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", default="bench/results/long_text_windows_bbc.json")
    args = parser.parse_args()

    experiment = load_experiment(args.experiment)
    splits = experiment.slices(load_dataset(experiment.data))["all"]
    results = {"experiment": args.experiment, "method": args.method, "threads": torch.get_num_threads(), "runs": {}}
    for seed in args.seeds:
        clf = load_classifier(experiment.run_dir(args.method, seed, "all") / "model")
        for split in ("validation", "test"):
            texts, labels = list(splits[split].texts), splits[split].labels
            start = time.perf_counter()
            logits, owner, rank = window_logits(clf, texts)
            row = {
                "texts": len(texts),
                "windows_read": len(owner),
                "seconds": round(time.perf_counter() - start, 1),
                "windows_per_text": {
                    str(w): round(float(np.mean(np.minimum(np.bincount(owner), w))), 2) for w in WINDOWS
                },
            }
            row.update(scores(logits, owner, rank, np.asarray(clf.label_space_.encode(labels)), len(texts)))
            results["runs"][f"seed-{seed}/{split}"] = row
            print(
                f"seed {seed} {split}: " + ", ".join(f"w{w} {row[f'mean_logits_w{w}']:.4f}" for w in WINDOWS),
                flush=True,
            )
    for split in ("validation", "test"):
        results[f"{split}_mean_over_seeds"] = {
            f"{agg}_w{w}": round(
                float(np.mean([results["runs"][f"seed-{s}/{split}"][f"{agg}_w{w}"] for s in args.seeds])), 4
            )
            for agg in ("mean_logits", "mean_probs")
            for w in WINDOWS
        }
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
