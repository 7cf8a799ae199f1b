"""What one request may ask, so that no request can hurt the others or the worker.

`BodySizeLimit` (ASGI middleware) answers 413 to a body over ``max_body_bytes`` before
anything parses it, whether the client declared its length or streams it in chunks: so the
body size, not the client, bounds what the JSON parser and the validator see. `check_texts`
answers 422 to what is valid JSON but no work for the model: no texts, too many, empty ones,
too long ones, or strings that are not valid Unicode (a lone surrogate, which JSON allows
and a tokenizer does not).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from fastapi import HTTPException

from causalclf.serve.options import ServeOptions


def check_texts(texts: Sequence[str], options: ServeOptions) -> None:
    """Raise a 422 `HTTPException` naming the offending positions and the limit (with its flag)."""
    if not texts:
        raise HTTPException(status_code=422, detail="no texts to classify")
    if len(texts) > options.max_texts:
        raise HTTPException(
            status_code=422,
            detail=(
                f"{len(texts)} texts in one request; the limit is {options.max_texts} (--max-texts): "
                "send them in several requests"
            ),
        )
    problems = {
        "are empty": [i for i, t in enumerate(texts) if not t.strip()],
        f"are longer than {options.max_text_chars} characters (--max-text-chars)": [
            i for i, t in enumerate(texts) if len(t) > options.max_text_chars
        ],
        "are not valid Unicode (lone surrogates)": [i for i, t in enumerate(texts) if not _encodable(t)],
    }
    for what, positions in problems.items():
        if positions:
            raise HTTPException(status_code=422, detail=f"texts at positions {positions} {what}")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class BodySizeLimit:
    """ASGI middleware: a request body over `max_bytes` gets 413 and never reaches the app."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        # Read the whole body first (it is small by construction) and replay it to the app:
        # a chunked body has no length to check in advance.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send) -> None:
        body = json.dumps(
            {
                "detail": f"request body larger than {self.max_bytes} bytes (--max-body-bytes): "
                "send fewer or shorter texts per request"
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
