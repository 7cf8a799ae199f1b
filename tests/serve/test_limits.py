"""Every limit answers with its status code and a reason; garbage never reaches the model or breaks the server."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from causalclf.serve import create_app
from tests.serve.conftest import TEXTS, live_server, metric

LIMITS = dict(max_body_bytes=2_000, max_texts=3, max_text_chars=40)


@pytest.fixture()
def http(clf):
    with TestClient(create_app(clf, **LIMITS)) as client:
        yield client


@pytest.mark.parametrize(
    "path, body, status, reason",
    [
        ("/predict", {"texts": ["goal"] * 4}, 422, "the limit is 3 (--max-texts)"),
        ("/classify", {"input": ["goal"] * 4}, 422, "the limit is 3 (--max-texts)"),
        (
            "/predict",
            {"texts": ["goal", "g" * 41]},
            422,
            "positions [1] are longer than 40 characters (--max-text-chars)",
        ),
        ("/classify", {"input": "g" * 41}, 422, "positions [0] are longer than 40 characters"),
        ("/predict", {"texts": ["goal", "", " \n"]}, 422, "positions [1, 2] are empty"),
        ("/classify", {"input": []}, 422, "no texts to classify"),
        ("/predict", {"texts": ["goal"] * 3 + ["x" * 2_000]}, 413, "larger than 2000 bytes (--max-body-bytes)"),
    ],
)
def test_each_limit_gives_its_status_and_reason(http, path, body, status, reason):
    reply = http.post(path, json=body)
    assert reply.status_code == status
    assert reason in reply.json()["detail"]


def test_lone_surrogates_are_refused_before_the_tokenizer(http):
    reply = http.post(
        "/classify", content=b'{"input": ["goal", "bad \\ud800 text"]}', headers={"content-type": "application/json"}
    )
    assert reply.status_code == 422 and "positions [1] are not valid Unicode" in reply.json()["detail"]


def test_within_the_limits_is_answered(http):
    assert http.post("/predict", json={"texts": TEXTS}).json()["labels"] == ["sport", "money", "film"]


GARBAGE = [
    b"",
    b"not json",
    b"{",
    b"\xff\xfe\x00garbage",
    b"null",
    b"[]",
    b"12",
    b'{"texts": "goal"}',
    b'{"texts": [1, 2]}',
    b'{"texts": [null]}',
    b'{"texts": [["nested"]]}',
    b'{"texts": {"a": "goal"}}',
    b'{"input": {"a": 1}}',
    b'{"input": 3.5}',
    b'{"texts": ["goal"], "texts": 7}',
    b"[" * 100_000 + b"]" * 100_000,  # far deeper than Python's recursion limit
    b'{"texts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
]


@pytest.mark.parametrize("path", ["/predict", "/classify"])
def test_garbage_bodies_get_4xx_and_the_server_still_answers(clf, path):
    with TestClient(create_app(clf)) as client:
        for body in GARBAGE:
            for content_type in ("application/json", "text/plain"):
                reply = client.post(path, content=body, headers={"content-type": content_type})
                assert 400 <= reply.status_code < 500, (body[:40], content_type, reply.status_code, reply.text)
        assert client.post("/predict", json={"texts": TEXTS}).json()["labels"] == ["sport", "money", "film"]
        text = client.get("/metrics").text
    assert metric(text, "causalclf_errors_total", endpoint=path, kind="client") == 2 * len(GARBAGE)
    assert metric(text, "causalclf_errors_total", endpoint=path, kind="server") == 0
    assert metric(text, "causalclf_batch_size_count") == 1  # only the good request reached the model


def test_a_chunked_body_over_the_limit_is_cut_off_with_413(clf):
    """No Content-Length to check in advance: the limit holds while the body streams in."""

    def chunks():
        yield b'{"texts": ["'
        for _ in range(100):
            yield b"goal " * 20

    with live_server(create_app(clf, **LIMITS)) as (_, url):
        with httpx.Client(base_url=url, timeout=30) as client:
            reply = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
            assert reply.status_code == 413 and "--max-body-bytes" in reply.json()["detail"]
            assert client.post("/predict", json={"texts": TEXTS}).json()["labels"] == ["sport", "money", "film"]
