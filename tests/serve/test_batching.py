"""Micro-batching: concurrent requests share a batch, big requests are split and reassembled, the worker survives."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from causalclf.serve import create_app
from tests.serve.conftest import TEXTS, Gate, fire, live_server, metric, queued_behind_gate, wait_until
from tests.toy import toy_single_label


@pytest.mark.parametrize("max_batch_size", [64, 1])
def test_concurrent_requests_are_batched_together(clf, max_batch_size):
    texts = toy_single_label(4)[0]
    n = len(texts)
    expected = [[label] for label in clf.predict(texts)]
    gate = Gate(clf)
    app = create_app(clf, max_batch_size=max_batch_size, max_wait_ms=0)
    with live_server(app) as (_, url):
        futures = fire(url, [{"texts": [t]} for t in texts])
        queued_behind_gate(url, gate, n)
        gate.open()
        replies = [f.result() for f in futures]
        text = httpx.get(url + "/metrics").text
    assert [r.json()["labels"] for r in replies] == expected
    batches = metric(text, "causalclf_batch_size_count")
    assert metric(text, "causalclf_batch_size_sum") == n
    alone = metric(text, "causalclf_batch_size_bucket", le="1.0")
    if max_batch_size == 1:  # batching off: one model call per text
        assert batches == alone == n
    else:  # everything that queued behind the first batch ran as one more batch
        assert batches == len(gate.batches) <= 2 and batches - alone >= 1


def test_a_request_larger_than_a_batch_is_split_and_answered_as_one(clf):
    texts = toy_single_label(4)[0][:10]
    expected = clf.predict(texts)
    gate = Gate(clf, closed=False)
    with TestClient(create_app(clf, max_batch_size=4)) as http:
        body = http.post("/predict", json={"texts": texts}).json()
    assert [len(b) for b in gate.batches] == [4, 4, 2]
    assert body["labels"] == [max(p, key=p.get) for p in body["proba"]] == expected


def test_the_token_budget_bounds_a_batch(clf):
    texts = [
        "sport match goal team",
        "bank market stock wins",
        "film music actor star",
        "goal team player wins",
        "music film song award",
    ]  # 20-22 characters: 5 or 6 "tokens" each
    expected = clf.predict(texts)
    gate = Gate(clf, closed=False)
    with TestClient(create_app(clf, max_batch_tokens=12)) as http:
        labels = http.post("/predict", json={"texts": texts}).json()["labels"]
        text = http.get("/metrics").text
    assert [len(b) for b in gate.batches] == [2, 2, 1]
    assert labels == expected
    assert metric(text, "causalclf_batch_tokens_bucket", le="64.0") == 3


def test_a_slow_answer_times_out_with_504_and_its_texts_are_dropped(clf):
    gate = Gate(clf)
    with live_server(create_app(clf, request_timeout_s=0.5, max_wait_ms=0)) as (_, url):
        (held,) = fire(url, [{"texts": ["goal match"]}])
        wait_until(gate.entered.is_set, what="the first batch")
        (late,) = fire(url, [{"texts": ["bank stock", "film star"]}])
        first = held.result()
        assert first.status_code == 504 and "--request-timeout-s" in first.json()["detail"]
        assert late.result().status_code == 504
        gate.open()
        assert httpx.post(url + "/predict", json={"texts": TEXTS}).json()["labels"] == ["sport", "money", "film"]
        text = httpx.get(url + "/metrics").text
    assert gate.batches == [["goal match"], TEXTS]  # the timed-out queued texts never reached the model
    assert metric(text, "causalclf_errors_total", endpoint="/predict", kind="timeout") == 2


def test_a_failing_request_fails_alone_and_the_worker_goes_on(clf):
    inner = clf.predict_with_proba

    def fails_on_boom(texts):
        if any("boom" in t for t in texts):
            raise ValueError("boom is not a word this model knows")
        return inner(texts)

    clf.predict_with_proba = fails_on_boom
    gate = Gate(clf)
    with live_server(create_app(clf, max_wait_ms=0)) as (_, url):
        first = fire(url, [{"texts": ["goal match"]}])
        wait_until(gate.entered.is_set, what="the first batch")
        good, bad = fire(url, [{"texts": ["bank stock"]}, {"texts": ["film boom"]}])
        wait_until(lambda: metric(httpx.get(url + "/metrics").text, "causalclf_queue_depth") == 2, what="the queue")
        gate.open()
        assert first[0].result().json()["labels"] == ["sport"]
        assert good.result().json()["labels"] == ["money"]
        reply = bad.result()
        assert reply.status_code == 500
        assert reply.json()["detail"] == "inference failed: ValueError: boom is not a word this model knows"
        assert httpx.post(url + "/predict", json={"texts": TEXTS}).json()["labels"] == ["sport", "money", "film"]
    _, shared, *alone, _ = gate.batches  # they shared a batch, which failed; then each ran alone
    assert sorted(shared) == ["bank stock", "film boom"] and sorted(alone) == [["bank stock"], ["film boom"]]


def test_tokens_are_counted_by_the_models_tokenizer_and_a_failing_count_stops_nothing(clf):
    def tokenizer(text, truncation, max_length):
        if "boom" in text:
            raise ValueError("cannot tokenize this")
        return {"input_ids": text.split()}

    clf.tokenizer_ = tokenizer  # stands for a transformer model's own
    with TestClient(create_app(clf)) as http:
        assert (
            http.post("/classify", json={"input": ["goal match team", "film star"]}).json()["usage"]["prompt_tokens"]
            == 5
        )
        reply = http.post("/classify", json={"input": "film boom"})  # counted as characters / 4 instead
        assert reply.status_code == 200 and reply.json()["usage"]["prompt_tokens"] == 3
        assert reply.json()["data"][0]["label"] == "film"
