"""Loading, checking and splitting labelled text data; see `load_dataset`."""
from causalclf.data.config import DataConfig
from causalclf.data.dataset import DatasetSplits, TextDataset
from causalclf.data.labels import LabelSpace
from causalclf.data.loaders import load_dataset, read_texts
from causalclf.data.report import DataError, LoadReport, RowIssue

__all__ = [
    "load_dataset", "read_texts", "TextDataset", "DatasetSplits", "DataConfig", "DataError",
    "LabelSpace", "LoadReport", "RowIssue",
]
