"""Prometheus metrics of one app, served at ``GET /metrics`` in the text exposition format.

Each app owns its `CollectorRegistry` (not the process-wide default one), so several apps in
one process (tests, or two models behind one uvicorn) count separately. The HTTP side is
counted by `MetricsMiddleware`; the inference side (batch sizes, tokens, time per batch,
queue depth) by the batcher through `Metrics`.

    causalclf_requests_total{endpoint, status}        requests answered
    causalclf_errors_total{endpoint, kind}             of those, errors: client (4xx), timeout (504), server (5xx)
    causalclf_request_duration_seconds{endpoint}       latency histogram, queueing included
    causalclf_batch_size / causalclf_batch_tokens      texts and tokens per inference batch (histograms)
    causalclf_batch_inference_seconds                  model time per batch (histogram)
    causalclf_queue_depth                              texts waiting for the inference worker (gauge)
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

OTHER = "other"
"""The endpoint label of any path that is not an API route (docs, assets, unknown paths): one
label for them all, so that clients probing random paths cannot grow the series without bound."""


class Metrics:
    """The metrics of one app, in their own registry."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        kw = {"registry": self.registry}
        self.requests = Counter(
            "causalclf_requests", "HTTP requests answered, by endpoint and status code.", ["endpoint", "status"], **kw
        )
        self.errors = Counter(
            "causalclf_errors",
            "Requests answered with an error: client (4xx), timeout (504) or server (other 5xx).",
            ["endpoint", "kind"],
            **kw,
        )
        self.latency = Histogram(
            "causalclf_request_duration_seconds",
            "Time from request to answer, queueing included.",
            ["endpoint"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            **kw,
        )
        self.batch_size = Histogram(
            "causalclf_batch_size", "Texts per inference batch.", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), **kw
        )
        self.batch_tokens = Histogram(
            "causalclf_batch_tokens", "Tokens per inference batch.", buckets=(64, 256, 1024, 4096, 16384, 65536), **kw
        )
        self.batch_seconds = Histogram(
            "causalclf_batch_inference_seconds",
            "Model time per inference batch.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            **kw,
        )
        self.queue_depth = Gauge("causalclf_queue_depth", "Texts waiting for the inference worker.", **kw)

    def observe_batch(self, texts: int, tokens: int, seconds: float) -> None:
        self.batch_size.observe(texts)
        self.batch_tokens.observe(tokens)
        self.batch_seconds.observe(seconds)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
        if status >= 400:
            kind = "client" if status < 500 else "timeout" if status == 504 else "server"
            self.errors.labels(endpoint, kind).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """ASGI middleware: counts and times every HTTP request, the ones refused before routing included."""

    def __init__(self, app, metrics: Metrics, endpoints: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.endpoints = endpoints

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = scope["path"] if scope["path"] in self.endpoints else OTHER
        start, status = time.perf_counter(), 500

        async def send_and_note_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            self.metrics.observe_request(endpoint, status, time.perf_counter() - start)
