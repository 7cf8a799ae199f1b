"""The floor every method must clear: TF-IDF features and a logistic regression.

Word 1-2 grams with sublinear term frequency, then a multinomial logistic regression
(single-label) or one binary logistic regression per class (multi-label, with per-class
thresholds tuned on validation). Seconds to train on a CPU, so a causal LM's gain is
always read against what a bag of words already gets.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from causalclf.data.report import DataError
from causalclf.methods.base import Classifier
from causalclf.methods.tfidf.params import TfidfParams

PIPELINE_FILE = "pipeline.skops"
VERSIONS_FILE = "versions.json"

# skops rather than pickle/joblib: loading a pickle runs whatever code the file names, so a
# shared model directory would be an attack vector; skops rebuilds only types it trusts
# (numpy, scipy and scikit-learn's own) plus the ones listed here, and refuses any other
# with an error naming them. The list names every type a fitted pipeline holds, so the
# model keeps loading should skops trust fewer types by default.
TRUSTED_TYPES = [
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.multiclass.OneVsRestClassifier",
    "sklearn.multiclass._ConstantPredictor",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._label.LabelBinarizer",
]


class TfidfClassifier(TfidfParams, Classifier):
    """TF-IDF + logistic regression (one-vs-rest for multi-label).

    `causalclf explain tfidf` lists the parameters. Fitted: ``pipeline_`` (the scikit-learn
    pipeline).
    """

    fitted_attributes: ClassVar[tuple[str, ...]] = ("pipeline_",)

    def _build_pipeline(self):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import Pipeline

        vectorizer = TfidfVectorizer(
            ngram_range=tuple(self.ngram_range),  # a saved config gives back a JSON list
            max_features=self.max_features,
            min_df=self.min_df,
            max_df=self.max_df,
            sublinear_tf=self.sublinear_tf,
            dtype=np.float32,
        )
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)
        return Pipeline([("tfidf", vectorizer), ("clf", OneVsRestClassifier(lr) if self.multi_label else lr)])

    def fit(self, texts: Sequence[str], labels: Sequence, validation: tuple | None = None) -> TfidfClassifier:
        y = self._init_labels(labels)
        if not self.multi_label and len(np.unique(y)) < 2:
            raise DataError(f"single-label training needs at least two classes; got only {self.labels_}")
        self.pipeline_ = self._build_pipeline().fit(list(texts), y)
        if validation is not None:
            self.tune_thresholds_on(*validation, average=self.threshold_average)
        return self

    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        scores = self.pipeline_.decision_function(list(texts))
        if scores.ndim == 1:
            # Binary LR returns one margin d with P(class 1) = sigmoid(d); as two logits
            # (-d/2, d/2) the base class's softmax gives back exactly those probabilities.
            scores = np.stack([-scores / 2, scores / 2], axis=1)
        return scores

    @property
    def trainable_parameters(self) -> int:
        self._check_fitted()
        clf = self.pipeline_.named_steps["clf"]
        # A class that is always (or never) present gets a constant predictor: no weights.
        estimators = getattr(clf, "estimators_", [clf])
        return int(sum(e.coef_.size + e.intercept_.size for e in estimators if hasattr(e, "coef_")))

    # ------------------------------------------------------------------ persistence
    def _save_weights(self, path: Path) -> None:
        import sklearn
        import skops
        import skops.io

        vectorizer = self.pipeline_.named_steps["tfidf"]
        # skops writes every numpy scalar as its own .npy entry: a bbc-news vocabulary of
        # numpy-int indices took minutes to save. Plain ints are stored inline as JSON.
        # stop_words_ (terms cut by max_features/min_df) is only introspection: sklearn's
        # docs say to drop it before persisting.
        vectorizer.vocabulary_ = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
        if hasattr(vectorizer, "stop_words_"):
            del vectorizer.stop_words_
        skops.io.dump(self.pipeline_, path / PIPELINE_FILE)
        (path / VERSIONS_FILE).write_text(json.dumps({"sklearn": sklearn.__version__, "skops": skops.__version__}))

    def _load_weights(self, path: Path) -> None:
        import sklearn
        import skops.io

        versions_file = path / VERSIONS_FILE
        saved = json.loads(versions_file.read_text()).get("sklearn") if versions_file.is_file() else None
        if saved != sklearn.__version__:
            # skops restores the attributes faithfully, but sklearn does not promise that an
            # estimator's internals mean the same across versions.
            warnings.warn(
                f"{path} was saved with scikit-learn {saved}, this is {sklearn.__version__}: "
                "predictions may differ; refit to be sure",
                stacklevel=2,
            )
        self.pipeline_ = skops.io.load(path / PIPELINE_FILE, trusted=TRUSTED_TYPES)
