"""Batch prediction at any volume: `causalclf predict` and `predict_file`.

- `sources`: the input read in chunks of rows (any reader format, the loaders' row checks);
- `sinks`: predictions as Arrow tables, appended to JSON lines, CSV or Parquet;
- `parts`: one committed part file per chunk and a manifest: resume after any kill;
- `runner`: `predict_file`, the loop that ties them together.

Token-budget batches (`max_batch_tokens`) live with the other batching of the transformer
methods, in `causalclf.runtime.batching`.
Shards under `accelerate launch` / `torchrun` follow `causalclf.processes`. Names are imported lazily.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "predict_file": "causalclf.inference.runner",
    "PredictSummary": "causalclf.inference.runner",
    "TextSource": "causalclf.inference.sources",
    "Counts": "causalclf.inference.sources",
    "DEFAULT_CHUNK_ROWS": "causalclf.inference.sources",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'causalclf.inference' has no attribute {name!r}")
