"""Serving fixtures: fitted TF-IDF models, a gate that holds the inference worker, a live uvicorn server."""

from __future__ import annotations

import concurrent.futures
import importlib.util
import socket
import threading
import time
from contextlib import contextmanager

import httpx
import pytest

from causalclf import TfidfClassifier
from tests.toy import toy_multi_label, toy_single_label

# Serving is an optional extra: without it these tests are not collected (CI installs it).
collect_ignore_glob = [] if importlib.util.find_spec("fastapi") else ["test_*.py"]

TEXTS = ["goal match team", "bank stock profit", "film star award"]
"""Texts the single-label toy model labels sport, money, film."""


@pytest.fixture()
def clf():
    """A fitted single-label TF-IDF model, fresh per test (tests wrap its methods)."""
    return TfidfClassifier().fit(*toy_single_label(10))


@pytest.fixture()
def multi_clf():
    return TfidfClassifier().fit(*toy_multi_label(60))


class Gate:
    """Wraps `clf.predict_with_proba`: records each batch's texts and, while closed, holds the
    worker inside its first batch, so requests sent meanwhile queue up behind it."""

    def __init__(self, clf, closed: bool = True) -> None:
        self.batches: list[list[str]] = []
        self.entered = threading.Event()
        self._open = threading.Event()
        if not closed:
            self._open.set()
        inner = clf.predict_with_proba

        def gated(texts):
            self.batches.append(list(texts))
            self.entered.set()
            if not self._open.wait(timeout=60):
                raise RuntimeError("the test never opened the gate")
            return inner(texts)

        clf.predict_with_proba = gated

    def open(self) -> None:
        self._open.set()


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample of a Prometheus text exposition (0 if absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def wait_until(condition, timeout: float = 20.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@contextmanager
def live_server(app, graceful_s: float = 30.0):
    """`app` under a real uvicorn server on a free loopback port, in a thread; yields (server, base_url)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=graceful_s))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, what="uvicorn to start")
        yield server, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


def fire(url: str, bodies: list[dict]) -> list[concurrent.futures.Future]:
    """POST each body to /predict from its own thread, all at once; the futures of the replies."""
    pool = concurrent.futures.ThreadPoolExecutor(len(bodies))
    futures = [pool.submit(httpx.post, url + "/predict", json=body, timeout=60) for body in bodies]
    pool.shutdown(wait=False)
    return futures


def queued_behind_gate(url: str, gate: Gate, n: int) -> None:
    """Wait until the gated first batch and the queue behind it hold all `n` texts."""

    def all_in():
        depth = metric(httpx.get(url + "/metrics").text, "causalclf_queue_depth")
        return gate.entered.is_set() and len(gate.batches[0]) + depth == n

    wait_until(all_in, what=f"{n} texts queued")
