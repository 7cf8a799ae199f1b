"""What batching gains the embedding head itself, on texts in arrival order (issue 9, the server target).

A server's micro-batch holds the requests that happen to be waiting, so its texts come in any
order and any mix of lengths, unlike `predict`'s longest-first batches. This times the model
alone (`predict_with_proba`, one call per batch, as the serve worker makes them) on random AG
News test texts cut into consecutive groups of each `--sizes`, under four batch layouts:

- ``padded``: padded to the longest text (``packing: false``);
- ``rows``: packed into rows as wide as the longest text, attention masked per text (the
  layout before `causalclf.runtime.packing.segment_attention`);
- ``one_row``: every text of the batch in one unpadded row, attention per text (the default
  on a CPU now);
- ``one_row_unpacked``: the same, with the Linears on torch's own kernel (MKL) instead of
  oneDNN on packed weights (`causalclf.runtime.lean.PackedLinear`), which shows what
  the packing gains at each batch size.

Every layout but the last runs the packed Linears, as predictions do on a CPU.

Rounds draw fresh texts and run every (size, layout) back to back, so the machine's drift
weighs on all alike; medians over rounds are reported, with each one's gain over batch 1
(padded, the serve worker's batch-1 mode), one_row over rows and packed over unpacked.
Probabilities of all layouts are compared on one batch. Writes bench/results/batch_gain_<name>.json.

    python bench/batch_gain.py runs/experiments/ag-news/runs/embedding-head/n-100/seed-1/model --name ag-news-head
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = Path(__file__).resolve().parent / "results"
LAYOUTS = ("padded", "rows", "one_row", "one_row_unpacked")


class Layouts:
    """Points a classifier's inference copy at each layout: `packing`, its backbone's attention, its Linears."""

    def __init__(self, clf):
        from causalclf.runtime.lean import PackedLinear
        from kernel_tools import dense_linear

        self.clf, self.backbone = clf, clf._inference_model().backbone
        self.packed = {name: m for name, m in self.backbone.named_modules() if isinstance(m, PackedLinear)}
        self.plain = {name: dense_linear(m) for name, m in self.packed.items()}

    def use(self, layout: str) -> None:
        from causalclf.runtime.lean import replace
        from causalclf.runtime.packing import SEGMENTS

        self.clf.set_params(packing=layout != "padded")
        self.backbone.set_attn_implementation(SEGMENTS if layout.startswith("one_row") else "sdpa")
        for name, module in (self.plain if layout == "one_row_unpacked" else self.packed).items():
            replace(self.backbone, name, module)


def texts_per_second(clf, groups: list[list[str]]) -> float:
    start = time.perf_counter()
    for group in groups:
        clf.predict_with_proba(group)
    return sum(map(len, groups)) / (time.perf_counter() - start)


def measure(clf, texts: list[str], sizes: list[int], n_texts: int, rounds: int, seed: int = 0) -> dict:
    """Texts/s per layout and batch size, per round, on `n_texts` random `texts` per round (batch 1 runs half)."""
    rng = np.random.default_rng(seed)
    probe = [texts[i] for i in rng.choice(len(texts), min(16, len(texts)), replace=False)]
    layouts = Layouts(clf)
    proba = {}
    for layout in LAYOUTS:
        layouts.use(layout)
        proba[layout] = clf.predict_proba(probe)
    runs: dict[str, dict[int, list[float]]] = {layout: {size: [] for size in sizes} for layout in LAYOUTS}
    for _ in range(rounds):
        drawn = [texts[i] for i in rng.choice(len(texts), n_texts, replace=len(texts) < n_texts)]
        for size in sizes:
            groups = [drawn[i : i + size] for i in range(0, n_texts if size > 1 else n_texts // 2, size)]
            for layout in LAYOUTS:
                layouts.use(layout)
                runs[layout][size].append(texts_per_second(clf, groups))
    median = {layout: {size: statistics.median(v) for size, v in by_size.items()} for layout, by_size in runs.items()}
    base = median["padded"][min(sizes)]
    return {
        "texts_per_second_per_round": runs,
        "texts_per_second": median,
        "gain_over_batch_1": {
            layout: {size: v / base for size, v in by_size.items()} for layout, by_size in median.items()
        },
        "one_row_over_rows": {size: median["one_row"][size] / median["rows"][size] for size in sizes},
        "packed_over_unpacked": {size: median["one_row"][size] / median["one_row_unpacked"][size] for size in sizes},
        "max_probability_difference": {
            layout: float(np.abs(proba[layout] - proba["padded"]).max()) for layout in LAYOUTS
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", help="a saved embedding head")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 16], help="batch sizes (the first is the base)")
    parser.add_argument("--texts", type=int, default=160, help="texts per round (batch 1 runs half of them)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", default="ag-news-head", help="results file suffix")
    args = parser.parse_args()

    from causalclf.data import load_dataset
    from causalclf.methods import load_classifier

    clf = load_classifier(args.model_dir)
    texts = load_dataset("ag_news")["test"].texts
    result = {
        "model_dir": args.model_dir,
        "texts": f"AG News test split, {args.texts} random texts per round",
        "sizes": args.sizes,
        "rounds": args.rounds,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        **measure(clf, texts, args.sizes, args.texts, args.rounds),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"batch_gain_{args.name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "texts_per_second",
                    "gain_over_batch_1",
                    "one_row_over_rows",
                    "packed_over_unpacked",
                    "max_probability_difference",
                )
            },
            indent=2,
        )
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
