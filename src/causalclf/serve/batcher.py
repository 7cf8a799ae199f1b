"""The one inference worker: a thread that owns the model and serves a micro-batching queue.

Requests put their texts on one FIFO queue (`submit` returns a future per request). The
worker takes the first waiting text, then keeps adding waiting texts while the batch holds
fewer than ``max_batch_size`` texts and ``max_batch_tokens`` tokens, waiting up to
``max_wait_ms`` for more to arrive, and runs the model once on the batch. Each text's answer
goes back to its own position in its own request, so a request larger than a batch is split
across batches and still answered as one, in order. With ``max_batch_size=1`` every text runs
alone (batching off).

Only this thread touches the model and its tokenizer (a Hugging Face fast tokenizer is not
safe to share between threads). A batch that fails is run again request by request, so that
one bad request fails alone; the worker itself never stops on an error. Texts of a request
that has already been answered (timed out, failed) are dropped unrun. `close` refuses new
work, finishes everything queued and stops the thread.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from causalclf.serve.metrics import Metrics
from causalclf.serve.options import ServeOptions

log = logging.getLogger(__name__)


class WorkerStopped(RuntimeError):
    """The worker takes no new work: it has not started, or the server is shutting down."""


@dataclass
class Answer:
    """One request's predictions, in the order of its texts."""

    labels: list
    proba: np.ndarray | None
    """(n, n_labels), or None when the classifier gives no probabilities."""
    tokens: int
    """Tokens the request's texts came to (what the batch budget counted)."""


class _Request:
    """A submitted request: its texts, their answers so far, and the future the caller awaits."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.labels: list = [None] * len(self.texts)
        self.rows: list = [None] * len(self.texts)
        self.tokens = 0
        self.left = len(self.texts)
        self.future: concurrent.futures.Future[Answer] = concurrent.futures.Future()

    def put(self, index: int, label, row, tokens: int) -> None:
        self.labels[index], self.rows[index] = label, row
        self.tokens += tokens
        self.left -= 1
        if self.left == 0:
            proba = None if any(r is None for r in self.rows) else np.stack(self.rows)
            self._settle(lambda: self.future.set_result(Answer(self.labels, proba, self.tokens)))

    def fail(self, error: BaseException) -> None:
        self._settle(lambda: self.future.set_exception(error))

    def _settle(self, settle: Callable[[], None]) -> None:
        try:
            settle()
        except concurrent.futures.InvalidStateError:  # the caller gave up (timeout) meanwhile
            pass


@dataclass
class _Text:
    request: _Request
    index: int
    tokens: int | None = None
    """Counted by the worker when it first takes the text (the tokenizer belongs to the worker)."""

    @property
    def text(self) -> str:
        return self.request.texts[self.index]


def approximate_tokens(text: str) -> int:
    """Characters / 4, rounded up: about what a subword tokenizer makes of English."""
    return max(1, -(-len(text) // 4))


def token_counter(clf) -> Callable[[str], int]:
    """Tokens of one text as the model sees them: its tokenizer cut at its max_length, else `approximate_tokens`."""
    tokenizer = getattr(clf, "tokenizer_", None)
    if tokenizer is None:
        return approximate_tokens
    max_length = getattr(clf, "max_length", None)
    return lambda text: len(tokenizer(text, truncation=max_length is not None, max_length=max_length)["input_ids"])


class Batcher:
    """The queue and the worker thread; `start` it before `submit`, `close` it to drain and stop."""

    def __init__(self, clf, options: ServeOptions, metrics: Metrics) -> None:
        self.clf = clf
        self.options = options
        self.metrics = metrics
        self.count_tokens = token_counter(clf)
        self._queue: collections.deque[_Text] = collections.deque()
        self._ready = threading.Condition()
        self._accepting = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ caller side (event loop)
    def start(self) -> None:
        # A daemon, so that an app dropped without shutdown does not keep the process alive;
        # `close` is the orderly way out.
        self._thread = threading.Thread(target=self._run, name="causalclf-inference", daemon=True)
        self._accepting = True
        self._thread.start()

    def submit(self, texts: Sequence[str]) -> concurrent.futures.Future[Answer]:
        request = _Request(texts)
        with self._ready:
            if not self._accepting:
                raise WorkerStopped(
                    "the inference worker takes no new requests: the server is "
                    + (
                        "shutting down"
                        if self._thread
                        else "not started (run the app under its "
                        "lifespan: uvicorn does; a Starlette TestClient needs `with`)"
                    )
                )
            self._queue.extend(_Text(request, i) for i in range(len(request.texts)))
            self.metrics.queue_depth.set(len(self._queue))
            self._ready.notify()
        return request.future

    def close(self) -> None:
        """Refuse new work, answer everything queued, then stop the worker (blocks until it has)."""
        with self._ready:
            self._accepting = False
            self._ready.notify()
        if self._thread is not None:
            self._thread.join()

    # ------------------------------------------------------------------ worker side
    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self._infer(batch)
            except Exception as error:  # a bug of ours or malformed predictions: fail the batch, keep serving
                log.exception("could not answer a batch of %d texts", len(batch))
                for item in batch:
                    item.request.fail(error)

    def _next_batch(self) -> list[_Text] | None:
        """The next batch to run, or None once closed and drained."""
        first = self._take(timeout=None)
        if first is None:
            return None
        batch, tokens = [first], self._tokens(first)
        deadline = time.monotonic() + self.options.max_wait_ms / 1000
        while len(batch) < self.options.max_batch_size:
            item = self._take(timeout=deadline - time.monotonic())
            if item is None:
                break
            if tokens + self._tokens(item) > self.options.max_batch_tokens:
                self._put_back(item)
                break
            batch.append(item)
            tokens += item.tokens
        return batch

    def _take(self, timeout: float | None) -> _Text | None:
        """The oldest text still wanted; None after `timeout` seconds (None: no limit) or when closed and empty."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            while True:
                while self._queue:
                    item = self._queue.popleft()
                    if not item.request.future.done():
                        self.metrics.queue_depth.set(len(self._queue))
                        return item
                self.metrics.queue_depth.set(0)
                remaining = None if end is None else end - time.monotonic()
                if not self._accepting or (remaining is not None and remaining <= 0):
                    return None
                self._ready.wait(remaining)

    def _put_back(self, item: _Text) -> None:
        with self._ready:
            self._queue.appendleft(item)
            self.metrics.queue_depth.set(len(self._queue))

    def _tokens(self, item: _Text) -> int:
        if item.tokens is None:
            try:
                item.tokens = self.count_tokens(item.text)
            except Exception:  # the model will meet the same text and fail that request alone
                log.warning("could not count the tokens of a text; counting characters / 4", exc_info=True)
                item.tokens = approximate_tokens(item.text)
        return item.tokens

    def _infer(self, batch: list[_Text]) -> None:
        start = time.perf_counter()
        try:
            predictions = self.clf.predict_with_proba([item.text for item in batch])
        except Exception as error:
            failure = error
        else:
            self.metrics.observe_batch(len(batch), sum(item.tokens for item in batch), time.perf_counter() - start)
            proba = predictions.proba
            for k, item in enumerate(batch):
                item.request.put(item.index, predictions.labels[k], None if proba is None else proba[k], item.tokens)
            return
        self._failed(batch, failure)  # outside the except block: a retry's own error is not chained to this one

    def _failed(self, batch: list[_Text], error: Exception) -> None:
        """Run each request of a failed batch alone, so that only the request that fails gets the error."""
        by_request: dict[int, list[_Text]] = {}
        for item in batch:
            by_request.setdefault(id(item.request), []).append(item)
        if len(by_request) > 1:
            log.warning(
                "a batch of %d requests failed (%s: %s); running them one by one",
                len(by_request),
                type(error).__name__,
                error,
            )
            for items in by_request.values():
                self._infer(items)
            return
        log.error("inference failed on a request of %d texts", len(batch[0].request.texts), exc_info=error)
        batch[0].request.fail(error)
