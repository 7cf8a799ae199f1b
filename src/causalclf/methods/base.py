"""The `Classifier` interface every method implements (scikit-learn manners, HF persistence).

A method supplies raw scores (`_logits`); this base class turns them into probabilities
(softmax for single-label, per-class sigmoid for multi-label, optionally temperature
scaled), decisions (argmax, or per-class thresholds tuned on validation), and one
save/load format: a directory with ``causalclf.json`` plus whatever the method adds.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator

from causalclf.data.labels import LabelSpace

CONFIG_NAME = "causalclf.json"
FORMAT_VERSION = 1


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass
class Predictions:
    """One prediction pass: the decisions and the scores they were read from."""

    labels: list
    """A label per text (a list of labels for multi-label; None where a generated answer named none)."""
    proba: np.ndarray | None
    """(n, n_labels) probabilities, columns in ``labels_`` order; None when the method has no scores
    (a prompt answered by an endpoint)."""
    logits: np.ndarray | None
    """The raw scores `proba` came from, before any fitted temperature."""


class Classifier(BaseEstimator, ABC):
    """Common behaviour of all causalclf classifiers.

    Fitted attributes (trailing underscore, as in scikit-learn): ``label_space_``,
    ``labels_`` (column order of `predict_proba`), ``thresholds_`` (multi-label decision
    thresholds, one per class) and ``temperature_`` (None, a scalar, or one per class).
    """

    method_name: str = ""  # registry key written to causalclf.json

    # ----------------------------------------------------------------- to implement
    @abstractmethod
    def fit(self, texts: Sequence[str], labels: Sequence, validation: tuple | None = None) -> "Classifier":
        ...

    @abstractmethod
    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw scores, shape (n, n_labels): softmax/sigmoid of these are the probabilities."""

    @property
    @abstractmethod
    def trainable_parameters(self) -> int:
        """Parameters updated by `fit`, counted from the model."""

    def _save_weights(self, path: Path) -> None:
        """Write method-specific weights into `path` (the config is written by the base)."""

    def _load_weights(self, path: Path) -> None:
        """Inverse of `_save_weights`, called on an instance built from the saved params."""

    # ----------------------------------------------------------------- shared logic
    @property
    def labels_(self) -> list[str]:
        return list(self.label_space_.names)

    @property
    def multi_label(self) -> bool:
        return self.label_space_.multi_label

    def _init_labels(self, labels: Sequence, label_space: LabelSpace | None = None) -> np.ndarray:
        """Set ``label_space_`` from training labels and return their encoding."""
        if len(labels) == 0:
            raise ValueError("cannot fit on an empty training set")
        self.label_space_ = label_space or LabelSpace.from_labels(labels)
        self.thresholds_ = np.full(len(self.label_space_), 0.5)
        self.temperature_ = None
        return self.label_space_.encode(labels)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._logits(list(texts)), dtype=np.float64)

    def proba_from_logits(self, logits: np.ndarray) -> np.ndarray:
        """Probabilities from raw scores, with the fitted temperature applied if any."""
        logits = np.asarray(logits, dtype=np.float64)
        if self.temperature_ is not None:
            logits = logits / np.asarray(self.temperature_, dtype=np.float64)
        if self.multi_label:
            return expit(logits)
        return softmax(logits, axis=1)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.proba_from_logits(self.decision_function(texts))

    def decide(self, proba: np.ndarray) -> list:
        """Labels from probabilities: argmax, or per-class thresholds for multi-label."""
        proba = np.asarray(proba)
        if self.multi_label:
            return self.label_space_.decode(proba >= self.thresholds_[None, :])
        return self.label_space_.decode(proba.argmax(axis=1))

    def predict_with_proba(self, texts: Sequence[str]) -> Predictions:
        """Labels and probabilities from one pass: what evaluation, `predict` and `serve` all use."""
        logits = self.decision_function(texts)
        proba = self.proba_from_logits(logits)
        return Predictions(self.decide(proba), proba, logits)

    def predict(self, texts: Sequence[str]) -> list:
        return self.predict_with_proba(texts).labels

    def tune_thresholds_on(self, texts: Sequence[str], labels: Sequence, average: str = "macro") -> None:
        """Fit per-class decision thresholds on held-out data (multi-label only)."""
        if not self.multi_label:
            return
        from causalclf.evaluation.thresholds import tune_thresholds

        proba = self.predict_proba(texts)
        self.thresholds_ = np.asarray(
            tune_thresholds(self.label_space_.encode(labels), proba, average=average, per_class=True)
        )

    def calibrate(self, texts: Sequence[str], labels: Sequence) -> dict:
        """Fit temperature scaling on held-out data; later `predict_proba` calls apply it.

        One temperature for single-label, one per class for multi-label. Returns the ECE and
        NLL on `texts` before and after (on the fitting data itself: report test-set figures
        separately for an unbiased view).
        """
        from causalclf.evaluation import expected_calibration_error, temperature_scale
        from causalclf.evaluation.calibration import logit_nll

        y = self.label_space_.encode(labels)
        logits = self.decision_function(texts)
        self.temperature_ = None
        before = self.proba_from_logits(logits)
        self.temperature_ = np.asarray(temperature_scale(logits, y, multi_label=self.multi_label))
        after = self.proba_from_logits(logits)
        return {
            "temperature": _jsonable(self.temperature_),
            "ece_before": expected_calibration_error(y, before),
            "ece_after": expected_calibration_error(y, after),
            "nll_before": logit_nll(logits, y, multi_label=self.multi_label),
            "nll_after": logit_nll(logits / self.temperature_, y, multi_label=self.multi_label),
        }

    # ----------------------------------------------------------------- persistence
    def save_pretrained(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = {
            "format_version": FORMAT_VERSION,
            "method": self.method_name,
            "params": _jsonable(self.get_params(deep=False)),
            "label_space": self.label_space_.to_dict(),
            "thresholds": _jsonable(self.thresholds_),
            "temperature": _jsonable(self.temperature_),
        }
        self._save_weights(path)
        (path / CONFIG_NAME).write_text(json.dumps(config, indent=2))
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "Classifier":
        path = Path(path)
        config = read_config(path)
        if cls.method_name and config["method"] != cls.method_name:
            raise ValueError(
                f"{path} holds a {config['method']!r} classifier, not {cls.method_name!r}; "
                "use causalclf.load_classifier(path) to load any kind"
            )
        from causalclf.methods import get_method

        klass = get_method(config["method"]) if cls is Classifier else cls
        clf = klass(**config["params"])
        clf.label_space_ = LabelSpace.from_dict(config["label_space"])
        clf.thresholds_ = np.asarray(config["thresholds"], dtype=np.float64)
        t = config.get("temperature")
        clf.temperature_ = None if t is None else np.asarray(t, dtype=np.float64)
        clf._load_weights(path)
        return clf


def read_config(path: Path) -> dict:
    config_file = Path(path) / CONFIG_NAME
    if not config_file.is_file():
        raise FileNotFoundError(f"{path} is not a causalclf model directory (no {CONFIG_NAME})")
    config = json.loads(config_file.read_text())
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{config_file} was written by a newer causalclf (format {config['format_version']})")
    return config
