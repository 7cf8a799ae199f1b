"""The `Classifier` interface every method implements (scikit-learn manners, HF persistence).

A method is a dataclass whose fields are its parameters (type, default and help, which the
config validator and `causalclf explain` read), stored untouched by ``__init__`` as
scikit-learn expects, so `get_params`, `set_params` (nested: ``training__seed``) and `clone`
work. It supplies raw scores (`_logits`); this base class turns them into probabilities
(softmax for single-label, per-class sigmoid for multi-label, optionally temperature
scaled), decisions (argmax, or per-class thresholds tuned on validation), and one
save/load format: a directory with ``causalclf.json`` plus whatever the method adds.
"""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from causalclf.data.labels import LabelSpace
from causalclf.evaluation.calibration import expected_calibration_error, logit_nll, temperature_scale
from causalclf.evaluation.metrics import correct_per_item
from causalclf.evaluation.thresholds import tune_thresholds
from causalclf.fields import check_instance
from causalclf.methods.model_folder import CONFIG_NAME, FORMAT_VERSION, read_config
from causalclf.methods.registry import method


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


def _nested(value: Any) -> dict | None:
    """The sub-parameters of a parameter that has them: a dict, or a dataclass (e.g. TrainingConfig)."""
    if isinstance(value, dict):
        return value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    return None


class Classifier(ClassifierMixin, BaseEstimator, ABC):
    """Common behaviour of all causalclf classifiers.

    Fitted attributes (trailing underscore, as in scikit-learn): ``label_space_``,
    ``labels_`` and ``classes_`` (column order of `predict_proba`), ``thresholds_``
    (multi-label decision thresholds, one per class) and ``temperature_`` (None, a scalar,
    or one per class), plus each method's own (`fitted_attributes`).
    """

    method_name: ClassVar[str] = ""
    """Registry key written to causalclf.json (set on the method's parameters by `register_method`)."""
    fitted_attributes: ClassVar[tuple[str, ...]] = ()
    """Attributes that `fit` (or loading) sets besides the label space: their presence means fitted."""

    # ----------------------------------------------------------------- to implement
    @abstractmethod
    def fit(self, texts: Sequence[str], labels: Sequence, validation: tuple | None = None) -> Classifier: ...

    @abstractmethod
    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw scores, shape (n, n_labels): softmax/sigmoid of these are the probabilities."""

    @property
    @abstractmethod
    def trainable_parameters(self) -> int:
        """Parameters updated by `fit`, counted from the model."""

    def training_record(self) -> dict:
        """What the last `fit` decided that a run records beside its scores: the seed, the training's course
        (updates, best validation score, attempts, engine) and a method's own choices (the block it read).
        Empty for a method with neither seed nor training loop."""
        return {}

    def count_truncated(self, texts: Sequence[str]) -> int | None:
        """How many of `texts` are cut to fit the model (their beginning is kept); None for a method that
        reads whole texts."""
        return None

    def _save_weights(self, path: Path) -> None:
        """Write method-specific weights into `path` (the config is written by the base)."""

    def _load_weights(self, path: Path) -> None:
        """Inverse of `_save_weights`, called on an instance built from the saved params."""

    # ----------------------------------------------------------------- scikit-learn manners
    def __sklearn_is_fitted__(self) -> bool:
        return all(hasattr(self, name) for name in ("label_space_", *self.fitted_attributes))

    def _check_fitted(self) -> None:
        check_is_fitted(self)

    def _check_params(self) -> None:
        """Every parameter has its declared type, choice and range (as a YAML config would be checked),
        and their combination can work (`MethodParams.check_combinations`)."""
        check_instance(self)
        self.check_combinations()

    def get_params(self, deep: bool = True) -> dict:
        """Parameters; with `deep`, also each nested key as ``name__key`` (``training__seed``)."""
        params = super().get_params(deep=False)
        if deep:
            for name, value in list(params.items()):
                params.update({f"{name}__{key}": v for key, v in (_nested(value) or {}).items()})
        return params

    def set_params(self, **params) -> Classifier:
        """Set parameters; ``training__seed=3`` replaces `training` by a copy with that key set."""
        nested = {k: v for k, v in params.items() if "__" in k}
        super().set_params(**{k: v for k, v in params.items() if k not in nested})
        for key, value in nested.items():
            name, sub = key.split("__", 1)
            if name not in self.get_params(deep=False):
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}")
            setattr(self, name, {**(_nested(getattr(self, name)) or {}), sub: value})
        return self

    @contextlib.contextmanager
    def temporary_params(self, **params):
        """`params` set inside the block, the classifier's own values back after it (an error included)."""
        before = {name: value for name, value in self.get_params(deep=False).items() if name in params}
        self.set_params(**params)
        try:
            yield self
        finally:
            self.set_params(**before)

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.labels_, dtype=object)

    def score(self, texts: Sequence[str], labels: Sequence, sample_weight=None) -> float:
        """Accuracy (exact match of the label set for multi-label); a label never seen in training is wrong."""
        right = correct_per_item(list(labels), self.predict(texts), self.label_space_)
        return float(np.average(right, weights=sample_weight))

    # ----------------------------------------------------------------- shared logic
    @property
    def labels_(self) -> list[str]:
        return list(self.label_space_.names)

    @property
    def multi_label(self) -> bool:
        return self.label_space_.multi_label

    def _init_labels(self, labels: Sequence, label_space: LabelSpace | None = None) -> np.ndarray:
        """Check the parameters, set ``label_space_`` from training labels and return their encoding."""
        if len(labels) == 0:
            raise ValueError("cannot fit on an empty training set")
        self._set_label_space(label_space or LabelSpace.from_labels(labels))
        return self.label_space_.encode(labels)

    def _set_label_space(self, label_space: LabelSpace) -> None:
        """Begin a fit: the parameters checked, the label space set, thresholds and temperature reset."""
        self._check_params()
        self.label_space_ = label_space
        self.thresholds_ = np.full(len(label_space), 0.5)
        self.temperature_ = None

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        self._check_fitted()
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
    def from_pretrained(cls, path: str | Path) -> Classifier:
        path = Path(path)
        config = read_config(path)
        if cls.method_name and config["method"] != cls.method_name:
            raise ValueError(
                f"{path} holds a {config['method']!r} classifier, not {cls.method_name!r}; "
                "use causalclf.load_classifier(path) to load any kind"
            )
        klass = method(config["method"]).load() if cls is Classifier else cls
        clf = klass(**config["params"])
        clf.label_space_ = LabelSpace.from_dict(config["label_space"])
        clf.thresholds_ = np.asarray(config["thresholds"], dtype=np.float64)
        t = config.get("temperature")
        clf.temperature_ = None if t is None else np.asarray(t, dtype=np.float64)
        clf._load_weights(path)
        return clf
