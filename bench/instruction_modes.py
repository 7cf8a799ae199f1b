"""Instruction tuning on CPU: the three inference modes against zero-shot prompting.

For each dataset (bbc-news, single-label; USPTO IPC sections, multi-label) this trains one
`InstructionClassifier` (LoRA SFT) on a seeded stratified slice, then predicts the same
test slice in ``score``, ``constrained`` and ``generate`` mode, reporting macro-F1,
invalid rate and docs/s of each (same texts, same run); a zero-shot `PromptClassifier`
with the same frozen model and prompt is the floor. Trainable parameters are compared
with the embedding head's (default LoRA, counted from a fitted model). Results go to
bench/results/instruction_modes.json, rewritten after each dataset.

    python bench/instruction_modes.py                         # defaults below, ~10-15 min on 2 cores
    python bench/instruction_modes.py --datasets bbc-news --train-size 64 --test-size 50
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

USPTO_SECTIONS = {
    "A": "human necessities",
    "B": "transporting",
    "C": "chemistry",
    "D": "textiles",
    "E": "constructions",
    "F": "mechanical engineering",
    "G": "physics",
    "H": "electricity",
}
"""IPC section names as the model writes them: a letter alone is easy to confuse with prose."""

VERBALIZERS = {"bbc-news": "name", "uspto": USPTO_SECTIONS}


def slices(name: str, sizes: dict[str, int], seed: int):
    """Seeded stratified slices of the dataset's own train / validation / test splits."""
    from causalclf.data import load_dataset

    ds = load_dataset({"name": name})
    return {split: ds[split].sample(n, seed=seed) for split, n in sizes.items()}


def evaluate(clf, data, timed: bool = True) -> dict:
    """Macro-F1 (invalid answers counted wrong), invalid rate and docs/s of `predict`."""
    from causalclf.evaluation.metrics import classification_metrics

    start = time.perf_counter()
    predicted = clf.predict(data.texts)
    seconds = time.perf_counter() - start
    metrics = classification_metrics(data.labels, predicted, data.label_space)
    out = {
        "macro_f1": metrics["macro_f1"],
        "micro_f1": metrics["micro_f1"],
        "accuracy": metrics["accuracy"],
        "invalid_rate": float(getattr(clf, "invalid_rate_", 0.0)),
    }
    if timed:
        out.update(docs_per_s=len(data.texts) / seconds, seconds=seconds)
    return out


def embedding_head_parameters(model: str, data) -> int:
    """Trainable parameters of the embedding head with its default LoRA, from a one-step fit."""
    from causalclf.methods.embedding_head.classifier import EmbeddingHeadClassifier

    clf = EmbeddingHeadClassifier(
        model=model, max_length=32, training={"max_steps": 1, "batch_size": 4, "progress_bar": False}
    )
    return clf.fit(data.texts, data.labels).trainable_parameters  # all of them: every label gets a head row


def run_dataset(name: str, args) -> dict:
    from causalclf.methods.instruction.classifier import InstructionClassifier
    from causalclf.methods.prompting.classifier import PromptClassifier

    data = slices(name, {"train": args.train_size, "validation": args.val_size, "test": args.test_size}, args.seed)
    common = dict(
        model=args.model, verbalizer=VERBALIZERS[name], max_length=args.max_length, batch_size=args.batch_size
    )
    validation = (data["validation"].texts, data["validation"].labels)
    result: dict = {
        "sizes": {k: len(v) for k, v in data.items()},
        "labels": data["test"].label_space.names,
        "multi_label": data["test"].label_space.multi_label,
    }

    zero_shot = PromptClassifier(**common).fit(data["train"].texts, data["train"].labels, validation=validation)
    result["zero_shot_prompt"] = evaluate(zero_shot, data["test"])
    del zero_shot

    clf = InstructionClassifier(
        **common,
        training={
            "epochs": args.epochs,
            "learning_rate": args.learning_rate,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "logging_steps": 5,
        },
    )
    start = time.perf_counter()
    clf.fit(data["train"].texts, data["train"].labels, validation=validation)
    result["instruction"] = {
        "fit_seconds": time.perf_counter() - start,
        "trainable_parameters": clf.trainable_parameters,
        "lora": {"r": 8, "target_modules": "all-linear"},
        "validation_f1_best": clf.train_result_.best_score,
    }
    for mode in ("score", "constrained", "generate"):
        clf.inference = mode
        result["instruction"][mode] = evaluate(clf, data["test"])
        if mode == "generate":
            result["instruction"][mode]["invalid_examples"] = [
                r for r, bad in zip(clf.responses_, clf.invalid_) if bad
            ][:5]
    scored, generated = result["instruction"]["score"], result["instruction"]["generate"]
    result["instruction"]["score_vs_generate_speedup"] = scored["docs_per_s"] / generated["docs_per_s"]

    head = embedding_head_parameters(args.model, data["train"])
    result["embedding_head"] = {
        "trainable_parameters": head,
        "lora": {"r": 8, "target_modules": "all-linear"},
        "note": "default LoRA + linear head; parameters counted from a one-step fit",
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["bbc-news", "uspto"])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--train-size", type=int, default=100)
    parser.add_argument("--val-size", type=int, default=24)
    parser.add_argument("--test-size", type=int, default=80)
    parser.add_argument("--max-length", type=int, default=112, help="document tokens kept in the prompt")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads; on a shared 2-core machine one thread was 3x faster than two",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "instruction_modes.json")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    report = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
        },
        "datasets": {},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        start = time.perf_counter()
        report["datasets"][name] = run_dataset(name, args)
        report["datasets"][name]["total_seconds"] = time.perf_counter() - start
        args.out.write_text(json.dumps(report, indent=2))
        print(json.dumps({name: report["datasets"][name]}, indent=2), flush=True)


if __name__ == "__main__":
    main()
