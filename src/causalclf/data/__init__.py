"""Loading, checking and splitting labelled text data.

    ds = load_dataset("bbc-news")                       # bundled; or a path, a dict, a DataConfig
    ds = load_dataset({"path": "papers.jsonl", "text": "{title}\\n{abstract}", "label": "tags"})
    ds["train"].texts, ds["train"].labels, ds.label_space, print(ds.summary())
    texts, ids = read_texts("to_classify.csv", text="body")   # unlabelled input for predict
"""
from causalclf.data.config import DataConfig
from causalclf.data.dataset import DatasetSplits, TextDataset
from causalclf.data.labels import LabelSpace
from causalclf.data.loaders import load_dataset, read_texts
from causalclf.data.report import DataError, LoadReport, RowIssue

__all__ = [
    "load_dataset", "read_texts", "TextDataset", "DatasetSplits", "DataConfig", "DataError",
    "LabelSpace", "LoadReport", "RowIssue",
]
