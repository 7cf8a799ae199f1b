"""Loading, checking and splitting labelled text data.

    ds = load_dataset("bbc-news")                       # bundled; or a path, a dict, a DataConfig
    ds = load_dataset({"path": "papers.jsonl", "text": "{title}\\n{abstract}", "label": "tags"})
    ds["train"].texts, ds["train"].labels, ds.label_space, print(ds.summary())
    texts, ids = read_texts("to_classify.csv", text="body")   # unlabelled input for predict

Names are imported lazily: checking a data spec (`spec.check_data`) loads no scikit-learn.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "load_dataset": "causalclf.data.loaders",
    "read_texts": "causalclf.data.loaders",
    "TextDataset": "causalclf.data.dataset",
    "DatasetSplits": "causalclf.data.dataset",
    "SplitSizes": "causalclf.data.config",
    "DataConfig": "causalclf.data.config",
    "DataError": "causalclf.data.report",
    "LabelSpace": "causalclf.data.labels",
    "LoadReport": "causalclf.data.report",
    "RowIssue": "causalclf.data.report",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'causalclf.data' has no attribute {name!r}")
