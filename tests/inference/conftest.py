"""Saved models for the prediction tests: TF-IDF (trains in milliseconds) and a tiny embedding head."""

from __future__ import annotations

import pytest

from tests.toy import toy_multi_label, toy_single_label


@pytest.fixture(scope="session")
def tfidf_model(tmp_path_factory) -> str:
    from causalclf.methods.tfidf.classifier import TfidfClassifier

    texts, labels = toy_single_label(20)
    return str(TfidfClassifier().fit(texts, labels).save_pretrained(tmp_path_factory.mktemp("tfidf") / "model"))


@pytest.fixture(scope="session")
def tfidf_multi_model(tmp_path_factory) -> str:
    from causalclf.methods.tfidf.classifier import TfidfClassifier

    texts, labels = toy_multi_label(48)
    return str(TfidfClassifier().fit(texts, labels).save_pretrained(tmp_path_factory.mktemp("tfidf-multi") / "model"))


@pytest.fixture(scope="session")
def head_model(tiny_llama, tmp_path_factory) -> str:
    """A tiny causal embedding head (frozen backbone, trained head: about a second) with max_length 16."""
    from causalclf import EmbeddingHeadClassifier

    texts, labels = toy_single_label(8)
    clf = EmbeddingHeadClassifier(
        model=tiny_llama,
        lora=None,
        max_length=16,
        batch_size=4,
        training=dict(epochs=2, batch_size=8, progress_bar=False, logging_steps=1000, early_stopping_patience=None),
    )
    return str(clf.fit(texts, labels).save_pretrained(tmp_path_factory.mktemp("head") / "model"))
