"""Batch prediction at any volume: `causalclf predict` and `predict_file`.

- `sources`: the input read in chunks of rows (any reader format, the loaders' row checks);
- `sinks`: predictions as Arrow tables, appended to JSON lines, CSV or Parquet;
- `parts`: one committed part file per chunk and a manifest: resume after any kill;
- `processes`: shards under `accelerate launch` / `torchrun`;
- `runner`: `predict_file`, the loop that ties them together.

Token-budget batches (`max_batch_tokens`) live with the other batching of the transformer
methods, in `causalclf.methods.batching`.
"""
from causalclf.inference.runner import DEFAULT_CHUNK_ROWS, PredictSummary, predict_file
from causalclf.inference.sources import Counts, TextSource

__all__ = ["predict_file", "PredictSummary", "TextSource", "Counts", "DEFAULT_CHUNK_ROWS"]
