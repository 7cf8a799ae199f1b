"""HTTP serving of a saved model, through a real ASGI client."""
from __future__ import annotations

import pytest

from causalclf import TfidfClassifier
from tests.toy import toy_single_label

pytest.importorskip("fastapi")


@pytest.fixture()
def client(tmp_path):
    from fastapi.testclient import TestClient

    from causalclf.serve import create_app

    texts, labels = toy_single_label(10)
    clf = TfidfClassifier().fit(texts, labels)
    clf.save_pretrained(tmp_path / "m")
    return TestClient(create_app(tmp_path / "m")), clf


def test_predict_matches_the_model(client):
    http, clf = client
    texts = ["goal match team", "bank stock profit", "film star award"]
    reply = http.post("/predict", json={"texts": texts})
    assert reply.status_code == 200
    body = reply.json()
    assert body["labels"] == clf.predict(texts) == ["sport", "money", "film"]
    for row, expected in zip(body["proba"], clf.predict_proba(texts)):
        assert [row[name] for name in clf.labels_] == pytest.approx(expected.tolist(), abs=1e-9)
    assert http.get("/health").json() == {"status": "ok", "method": "tfidf", "labels": clf.labels_}


def test_bad_requests_are_refused_with_reasons(client):
    http, _ = client
    assert http.post("/predict", json={"texts": []}).status_code == 422
    assert http.post("/predict", json={"nope": 1}).status_code == 422
    reply = http.post("/predict", json={"texts": ["fine", "  "]})
    assert reply.status_code == 422 and "positions [1]" in reply.json()["detail"]
