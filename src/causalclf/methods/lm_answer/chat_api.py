"""A small client for OpenAI-compatible chat completion endpoints (``POST {base_url}/chat/completions``).

Transient failures (429, 5xx, timeouts, dropped connections) are retried with exponential
backoff, honouring a numeric ``Retry-After``; other errors surface at once with the
server's message. Requests are spaced to stay under a requests-per-second limit.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx


class EndpointError(RuntimeError):
    """The endpoint refused the request, or kept failing after every retry."""


@dataclass
class ChatEndpoint:
    """Chat completions from one endpoint and model; use as a context manager."""

    base_url: str
    """Up to and including the API version, e.g. "https://api.openai.com/v1"."""
    model: str
    """The endpoint's model name."""
    api_key: str | None = None
    """Sent as a bearer token when given."""
    timeout: float = 30.0
    """Seconds allowed per request."""
    max_retries: int = 5
    """Retries after the first attempt for transient failures."""
    backoff: float = 1.0
    """Seconds before the first retry; doubled before each next one."""
    requests_per_second: float | None = None
    """Upper bound on the request rate; None sends as fast as answers come."""
    max_tokens: int = 32
    """Answer length budget."""
    _client: httpx.Client | None = field(default=None, init=False, repr=False)
    _next_slot: float = field(default=0.0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __enter__(self) -> ChatEndpoint:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._client = httpx.Client(base_url=self.base_url.rstrip("/"), timeout=self.timeout, headers=headers)
        return self

    def __exit__(self, *exc) -> None:
        self._client.close()
        self._client = None

    def complete(self, messages: list[dict]) -> str:
        """The assistant's answer (greedy: temperature 0) to `messages`."""
        if self._client is None:
            raise RuntimeError("use ChatEndpoint as a context manager: with ChatEndpoint(...) as endpoint")
        payload = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": self.max_tokens}
        for attempt in range(self.max_retries + 1):
            self._wait_for_slot()
            wait = self.backoff * 2**attempt
            try:
                response = self._client.post("/chat/completions", json=payload)
            except httpx.TransportError as e:  # timeouts, refused or dropped connections
                problem: str = f"{type(e).__name__}: {e}"
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return _answer(response)
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                wait = max(wait, _retry_after(response))
            if attempt == self.max_retries:
                raise EndpointError(f"{self.base_url}: giving up after {attempt + 1} attempts; last: {problem}")
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _wait_for_slot(self) -> None:
        if not self.requests_per_second:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1.0 / self.requests_per_second
        time.sleep(max(0.0, slot - now))


def _retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("retry-after", 0))
    except ValueError:  # an HTTP date: not worth parsing, the backoff still applies
        return 0.0


def _answer(response: httpx.Response) -> str:
    if response.is_error:
        raise EndpointError(f"HTTP {response.status_code} from {response.request.url}: {response.text[:500]}")
    try:
        return response.json()["choices"][0]["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError):
        raise EndpointError(f"not a chat completion from {response.request.url}: {response.text[:500]}") from None
