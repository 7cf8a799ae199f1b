"""TF-IDF + logistic regression: the floor every method must clear (`classifier.py`; its parameters, `params.py`)."""

from causalclf.methods.registry import register_method
from causalclf.methods.tfidf.params import TfidfParams

register_method(
    "tfidf", TfidfParams, "causalclf.methods.tfidf.classifier:TfidfClassifier", "TF-IDF + logistic regression"
)
