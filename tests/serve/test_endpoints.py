"""What each endpoint answers, through the real app: labels and probabilities of real fitted models."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from causalclf import EmbeddingHeadClassifier, TfidfClassifier
from causalclf.methods.base import Predictions
from causalclf.serve import create_app
from tests.serve.conftest import TEXTS, metric
from tests.toy import toy_single_label


@pytest.fixture()
def saved(clf, tmp_path):
    clf.save_pretrained(tmp_path / "m")
    return tmp_path / "m"


@pytest.fixture()
def http(saved):
    with TestClient(create_app(saved)) as client:
        yield client


def test_predict_matches_the_model(http, clf):
    reply = http.post("/predict", json={"texts": TEXTS})
    assert reply.status_code == 200
    body = reply.json()
    assert body["labels"] == clf.predict(TEXTS) == ["sport", "money", "film"]
    for row, expected in zip(body["proba"], clf.predict_proba(TEXTS)):
        assert [row[name] for name in clf.labels_] == pytest.approx(expected.tolist(), abs=1e-9)
    assert http.get("/health").json() == {"status": "ok", "method": "tfidf", "labels": clf.labels_}


def test_bad_requests_are_refused_with_reasons(http):
    assert http.post("/predict", json={"texts": []}).status_code == 422
    assert http.post("/predict", json={"nope": 1}).status_code == 422
    reply = http.post("/predict", json={"texts": ["fine", "  "]})
    assert reply.status_code == 422 and "positions [1]" in reply.json()["detail"]


def test_classify_answers_like_vllm(http, clf, saved):
    reply = http.post("/classify", json={"input": TEXTS, "model": str(saved), "user": "vllm clients send this"})
    assert reply.status_code == 200
    body = reply.json()
    assert body["object"] == "list" and body["model"] == str(saved) and body["id"].startswith("classify-")
    assert isinstance(body["created"], int)
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    assert [d["label"] for d in body["data"]] == clf.predict(TEXTS)
    assert [d["num_classes"] for d in body["data"]] == [3, 3, 3]
    np.testing.assert_allclose([d["probs"] for d in body["data"]], clf.predict_proba(TEXTS), atol=1e-9)
    tokens = sum(math.ceil(len(t) / 4) for t in TEXTS)  # no tokenizer: characters / 4
    assert body["usage"] == {
        "prompt_tokens": tokens,
        "total_tokens": tokens,
        "completion_tokens": 0,
        "prompt_tokens_details": None,
    }
    one = http.post("/v1/classify", json={"input": TEXTS[1]}).json()  # a single string, no model: fine too
    assert [d["label"] for d in one["data"]] == ["money"]


def test_classify_refuses_another_model_name(http):
    reply = http.post("/classify", json={"input": "goal", "model": "some/other-model"})
    assert reply.status_code == 404 and "some/other-model" in reply.json()["detail"]


def test_models_lists_the_served_model(clf, saved):
    with TestClient(create_app(saved, served_model_name="news-topics")) as client:
        models = client.get("/v1/models").json()
        assert models["object"] == "list"
        assert [(m["id"], m["object"], m["root"]) for m in models["data"]] == [("news-topics", "model", str(saved))]
        assert client.post("/classify", json={"input": "goal", "model": "news-topics"}).json()["model"] == "news-topics"


def test_multi_label_classify_gives_every_label_over_its_threshold(multi_clf):
    multi_clf.thresholds_ = np.array([0.3, 0.6, 0.45])  # per class, not one 0.5 for all
    texts = ["red cat blue dog", "green code and the red", "the blue dog", "a red cat green"]
    with TestClient(create_app(multi_clf)) as client:
        data = client.post("/classify", json={"input": texts}).json()["data"]
        predicted = client.post("/predict", json={"texts": texts}).json()
    probs = np.array([d["probs"] for d in data])
    np.testing.assert_allclose(probs, multi_clf.predict_proba(texts), atol=1e-9)
    over = [[name for name, p, t in zip(multi_clf.labels_, row, multi_clf.thresholds_) if p >= t] for row in probs]
    labels = [d["label"] for d in data]
    assert labels == over == multi_clf.predict(texts) == predicted["labels"]
    assert any(len(label) > 1 for label in labels)


class NoProbabilities(TfidfClassifier):
    """Stands for a classifier without scores (a prompt answered by an HTTP endpoint)."""

    def predict_with_proba(self, texts):
        return Predictions(TfidfClassifier.predict_with_proba(self, texts).labels, None, None)


def test_a_classifier_without_probabilities_still_answers():
    clf = NoProbabilities().fit(*toy_single_label(10))
    with TestClient(create_app(clf)) as client:
        data = client.post("/classify", json={"input": TEXTS}).json()["data"]
        predicted = client.post("/predict", json={"texts": TEXTS}).json()
    assert [d["label"] for d in data] == ["sport", "money", "film"] and all(d["probs"] is None for d in data)
    assert predicted == {"labels": ["sport", "money", "film"], "proba": None}


def test_a_tiny_causal_model_is_served_with_its_tokenizer(tiny_llama, tmp_path):
    texts, labels = toy_single_label(8)
    EmbeddingHeadClassifier(
        model=tiny_llama,
        lora=None,
        batch_size=64,
        training=dict(
            epochs=20,
            learning_rate=1e-2,
            batch_size=8,
            progress_bar=False,
            early_stopping_patience=None,
        ),
    ).fit(texts, labels).save_pretrained(tmp_path / "head")
    clf = EmbeddingHeadClassifier.from_pretrained(tmp_path / "head")
    with TestClient(create_app(tmp_path / "head", max_batch_size=2)) as client:
        body = client.post("/classify", json={"input": TEXTS}).json()
    assert [d["label"] for d in body["data"]] == clf.predict(TEXTS)
    np.testing.assert_allclose([d["probs"] for d in body["data"]], clf.predict_proba(TEXTS), atol=1e-5)
    tokens = sum(len(clf.tokenizer_(t)["input_ids"]) for t in TEXTS)
    assert body["usage"]["prompt_tokens"] == tokens != sum(math.ceil(len(t) / 4) for t in TEXTS)


def test_docs_render_from_local_assets_only(http):
    for page in ("/docs", "/redoc"):
        html = http.get(page).text
        urls = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert urls and all(u.startswith("/") for u in urls), urls
        assert "http://" not in html and "https://" not in html and "fonts.googleapis" not in html
        for url in urls:
            asset = http.get(url)
            assert asset.status_code == 200 and len(asset.content) > 1000, url
    spec = http.get("/openapi.json").json()
    assert {"/classify", "/predict", "/health", "/v1/models", "/metrics"} <= set(spec["paths"])


def test_each_app_counts_its_own_metrics(clf):
    with TestClient(create_app(clf)) as one, TestClient(create_app(clf)) as two:
        assert one.post("/predict", json={"texts": TEXTS}).status_code == 200
        assert one.post("/predict", json={"texts": []}).status_code == 422
        first, second = one.get("/metrics"), two.get("/metrics").text
    assert first.headers["content-type"].startswith("text/plain")
    assert metric(first.text, "causalclf_requests_total", endpoint="/predict", status="200") == 1
    assert metric(first.text, "causalclf_errors_total", endpoint="/predict", kind="client") == 1
    assert metric(first.text, "causalclf_request_duration_seconds_count", endpoint="/predict") == 2
    assert metric(first.text, "causalclf_batch_size_sum") == 3
    assert metric(second, "causalclf_requests_total", endpoint="/predict", status="200") == 0
