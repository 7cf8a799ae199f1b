"""PromptClassifier: a frozen local model, and a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from causalclf.methods.lm_answer.chat_api import ChatEndpoint, EndpointError
from causalclf.methods.prompting.classifier import PromptClassifier
from tests.methods.test_instruction_parts import single_thread  # noqa: F401
from tests.toy import toy_multi_label, toy_single_label

KEYWORDS = {"goal": "The answer is: Sport.", "bank": "money", "movie": "I'd say FILM!", "gibberish": "I cannot tell."}


class ChatHandler(BaseHTTPRequestHandler):
    """Answers from the document's keywords; the server's `script` can make the next requests fail."""

    def do_POST(self):
        server = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        action = server.script.pop(0) if server.script else "answer"
        if self.path != "/v1/chat/completions":
            return self._send(404, {"error": "not found"})
        if action == "slow":
            time.sleep(server.slow_seconds)
        if action in ("429", "503", "400"):
            return self._send(int(action), {"error": action}, {"Retry-After": "0"} if action == "429" else {})
        document = body["messages"][-1]["content"].split("Text: ")[-1]
        answer = next((a for k, a in KEYWORDS.items() if k in document), "sport")
        self._send(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}]})

    def _send(self, status, payload, headers=None):
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            headers = {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ChatHandler)
    httpd.requests, httpd.script, httpd.slow_seconds = [], [], 1.0
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def endpoint_clf(server, **kw):
    defaults = dict(model=None, base_url=server.url, api_model="toy-chat", backoff=0.01, timeout=5.0)
    return PromptClassifier(**{**defaults, **kw})


TRAIN_TEXTS, TRAIN_LABELS = toy_single_label(4)
DOCS = ["goal team match", "bank money price", "movie song star", "gibberish words here"]


# ---------------------------------------------------------------------------- endpoint
def test_endpoint_answers_are_parsed_and_invalid_ones_counted(server, monkeypatch):
    monkeypatch.setenv("TOY_KEY", "secret")
    clf = endpoint_clf(server, api_key_env="TOY_KEY").fit(TRAIN_TEXTS, TRAIN_LABELS)
    assert clf.predict(DOCS) == ["sport", "money", "film", None]
    assert clf.invalid_.tolist() == [False, False, False, True] and clf.invalid_rate_ == 0.25
    assert clf.responses_[3] == "I cannot tell."
    assert clf.trainable_parameters == 0
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer secret"
    assert request["body"]["model"] == "toy-chat" and request["body"]["temperature"] == 0
    assert "film, money, sport" in request["body"]["messages"][-1]["content"]
    with pytest.raises(NotImplementedError, match="local model"):
        clf.predict_proba(DOCS)


def test_endpoint_multi_label_invalid_is_the_empty_set(server):
    texts, labels = toy_multi_label(12)
    clf = endpoint_clf(server).fit(texts, labels)
    assert clf.predict(["gibberish"]) == [[]] and clf.invalid_rate_ == 1.0


def test_retry_after_429_and_503(server):
    server.script = ["429", "503"]
    clf = endpoint_clf(server).fit(TRAIN_TEXTS, TRAIN_LABELS)
    assert clf.predict(["goal"]) == ["sport"]
    assert len(server.requests) == 3


def test_timeout_then_retry(server):
    server.script, server.slow_seconds = ["slow"], 1.0
    clf = endpoint_clf(server, timeout=0.2).fit(TRAIN_TEXTS, TRAIN_LABELS)
    start = time.monotonic()
    assert clf.predict(["bank"]) == ["money"]
    assert time.monotonic() - start < 0.9  # the slow answer was not waited for
    assert len(server.requests) == 2


def test_gives_up_after_max_retries(server):
    server.script = ["503"] * 10
    clf = endpoint_clf(server, max_retries=2).fit(TRAIN_TEXTS, TRAIN_LABELS)
    with pytest.raises(EndpointError, match="after 3 attempts.*503"):
        clf.predict(["goal"])
    assert len(server.requests) == 3


def test_client_errors_are_not_retried(server):
    server.script = ["400"]
    with pytest.raises(EndpointError, match="HTTP 400"):
        endpoint_clf(server).fit(TRAIN_TEXTS, TRAIN_LABELS).predict(["goal"])
    assert len(server.requests) == 1


def test_rate_limit_spaces_requests(server):
    with ChatEndpoint(server.url, "toy-chat", requests_per_second=20) as endpoint:
        start = time.monotonic()
        for _ in range(5):
            endpoint.complete([{"role": "user", "content": "Text: goal"}])
    assert time.monotonic() - start >= 4 / 20


def test_k_shot_examples_are_sent_as_chat_turns(server):
    clf = endpoint_clf(server, k_shot=2, seed=3).fit(TRAIN_TEXTS, TRAIN_LABELS)
    clf.predict(["goal"])
    messages = server.requests[0]["body"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"] * 6 + ["user"]
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    assert sorted(answers) == ["film", "film", "money", "money", "sport", "sport"]
    again = endpoint_clf(server, k_shot=2, seed=3).fit(TRAIN_TEXTS, TRAIN_LABELS)
    assert again.shots_ == clf.shots_  # seeded


def test_endpoint_needs_a_model_name(server):
    with pytest.raises(ValueError, match="api_model"):
        PromptClassifier(model=None, base_url=server.url).fit(TRAIN_TEXTS, TRAIN_LABELS)


def test_endpoint_save_load(server, tmp_path):
    clf = endpoint_clf(server, k_shot=1).fit(TRAIN_TEXTS, TRAIN_LABELS)
    loaded = PromptClassifier.from_pretrained(clf.save_pretrained(tmp_path / "p"))
    assert loaded.shots_ == clf.shots_ and loaded.predict(DOCS) == clf.predict(DOCS)


# ---------------------------------------------------------------------------- local model
@pytest.mark.parametrize("k_shot", [0, 1])
def test_local_single_label_scores_labels(tiny_llama, tmp_path, k_shot):
    clf = PromptClassifier(tiny_llama, k_shot=k_shot, max_length=16).fit(TRAIN_TEXTS, TRAIN_LABELS)
    proba = clf.predict_proba(DOCS)
    assert proba.shape == (4, 3) and np.allclose(proba.sum(1), 1.0)
    assert clf.predict(DOCS) == [clf.labels_[i] for i in proba.argmax(1)] and clf.invalid_rate_ == 0.0
    assert clf.trainable_parameters == 0
    assert len(clf.shots_) == 3 * k_shot
    if k_shot:  # the examples are part of the prompt that is scored
        zero = PromptClassifier(tiny_llama, max_length=16).fit(TRAIN_TEXTS, TRAIN_LABELS)
        assert not np.allclose(zero.predict_proba(DOCS), proba)
    loaded = PromptClassifier.from_pretrained(clf.save_pretrained(tmp_path / "local"))
    assert np.abs(loaded.predict_proba(DOCS) - proba).max() <= 1e-5


def test_local_multi_label_thresholds_from_validation(tiny_llama):
    texts, labels = toy_multi_label(12)
    val_texts, val_labels = toy_multi_label(12, seed=1)
    clf = PromptClassifier(tiny_llama, max_length=16).fit(texts, labels, validation=(val_texts, val_labels))
    assert clf.thresholds_.shape == (3,) and not np.allclose(clf.thresholds_, 0.5)
    predictions = clf.predict(val_texts)
    assert all(set(p) <= set(clf.labels_) for p in predictions)


def test_needs_a_model_or_an_endpoint():
    with pytest.raises(ValueError, match="local model or an endpoint"):
        PromptClassifier(model=None).fit(TRAIN_TEXTS, TRAIN_LABELS)


def test_an_endpoint_prompt_classifier_trains_predicts_and_serves_through_the_cli(server, tmp_path, capsys):
    """Text answers and no probabilities: train, predict and serve must all work without a crash."""
    import yaml
    from fastapi.testclient import TestClient

    from causalclf.cli import main
    from causalclf.serve import create_app

    texts, labels = toy_single_label(10)
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(texts, labels)))
    config = tmp_path / "prompt.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data": str(data),
                "method": "prompt",
                "model": None,
                "base_url": server.url,
                "api_model": "toy-chat",
                "output_dir": str(tmp_path / "run"),
            }
        )
    )
    assert main(["train", str(config)]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n"] == 3 and metrics["info"]["trainable_parameters"] == 0
    assert "ece" not in metrics  # no probabilities, no calibration figures
    from causalclf.data import load_dataset

    scored = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    test = load_dataset(str(data))["test"]  # the same seeded split the run used
    assert [r["pred"] for r in scored] == PromptClassifier.from_pretrained(tmp_path / "run" / "model").predict(
        test.texts
    ) and not any("proba" in r for r in scored)

    docs = tmp_path / "docs.txt"
    docs.write_text("\n".join(DOCS[:3]) + "\n")
    out = tmp_path / "preds.jsonl"
    assert main(["predict", str(tmp_path / "run" / "model"), str(docs), "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["label"] for r in rows] == ["sport", "money", "film"] and all(r.get("proba") is None for r in rows)

    with TestClient(create_app(tmp_path / "run" / "model")) as http:
        reply = http.post("/classify", json={"input": DOCS[:2]}).json()
    assert [d["label"] for d in reply["data"]] == ["sport", "money"] and reply["data"][0]["probs"] is None
