"""The FastAPI app: routes, `create_app` and `serve` (uvicorn).

The model is loaded once, in `create_app`; the app's lifespan starts the inference worker
and, at shutdown, drains it: uvicorn first stops accepting connections and lets the requests
in flight finish (for up to the request timeout), then the lifespan answers whatever is still
queued and stops the worker. Request handlers are coroutines that only validate, queue and
await, so the event loop never runs the model.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from causalclf.methods import load_classifier
from causalclf.methods.base import Classifier
from causalclf.serve.batcher import Answer, Batcher, WorkerStopped
from causalclf.serve.limits import BodySizeLimit, check_texts
from causalclf.serve.metrics import Metrics, MetricsMiddleware
from causalclf.serve.options import ServeOptions
from causalclf.serve.schemas import (
    ClassificationResponse,
    ClassifyRequest,
    Health,
    ModelList,
    PredictRequest,
    PredictResponse,
)

ENDPOINTS = frozenset({"/classify", "/v1/classify", "/predict", "/health", "/v1/models", "/metrics"})


def create_app(model: str | Path | Classifier, **options) -> FastAPI:
    """The app serving `model` (a saved model folder, or a fitted `Classifier`); `options` are `ServeOptions` fields."""
    options = ServeOptions.from_kwargs(options)
    clf = model if isinstance(model, Classifier) else load_classifier(model)
    name = options.served_model_name or (
        f"causalclf-{clf.method_name}" if isinstance(model, Classifier) else str(model)
    )
    root = None if isinstance(model, Classifier) else str(model)
    metrics = Metrics()
    batcher = Batcher(clf, options, metrics)
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        try:
            yield
        finally:
            await asyncio.to_thread(batcher.close)

    # FastAPIOffline: FastAPI whose /docs and /redoc load Swagger UI and ReDoc from assets the
    # fastapi-offline package ships (get_swagger_ui_html over a StaticFiles mount), not from a CDN.
    app = FastAPIOffline(
        title="causalclf",
        lifespan=lifespan,
        description=f"{clf.method_name} classifier ({'multi' if clf.multi_label else 'single'}"
        f"-label, {len(clf.labels_)} labels) served as `{name}`.",
    )
    app.state.options, app.state.metrics, app.state.batcher = options, metrics, batcher
    app.add_middleware(BodySizeLimit, max_bytes=options.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics, endpoints=ENDPOINTS)  # outermost: sees every refusal

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes each wrong value back, which for a large body is most of it.
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
        return JSONResponse(status_code=422, content={"detail": detail})

    async def answer(texts: list[str]) -> Answer:
        check_texts(texts, options)
        try:
            future = batcher.submit(texts)
        except WorkerStopped as e:
            raise HTTPException(status_code=503, detail=str(e)) from None
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), options.request_timeout_s)
        except asyncio.TimeoutError:
            raise HTTPException(
                status_code=504,
                detail=(
                    f"no answer within {options.request_timeout_s:g} s (--request-timeout-s): the server is "
                    "overloaded or these texts take too long; retry later, or send fewer texts"
                ),
            ) from None
        except Exception as e:
            raise HTTPException(status_code=500, detail=f"inference failed: {type(e).__name__}: {e}") from e

    @app.post("/classify", response_model=ClassificationResponse)
    @app.post("/v1/classify", response_model=ClassificationResponse, include_in_schema=False)
    async def classify(request: ClassifyRequest) -> dict:
        """vLLM's classification API: one result per input text, probabilities in /health's label order."""
        if request.model is not None and request.model != name:
            raise HTTPException(
                status_code=404,
                detail=f"model {request.model!r} is not served here; this server serves {name!r} (see /v1/models)",
            )
        texts = [request.input] if isinstance(request.input, str) else request.input
        result = await answer(texts)
        data = [
            {
                "index": i,
                "label": label,
                "num_classes": len(clf.labels_),
                "probs": None if result.proba is None else result.proba[i].tolist(),
            }
            for i, label in enumerate(result.labels)
        ]
        return {
            "id": f"classify-{uuid.uuid4().hex}",
            "created": int(time.time()),
            "model": name,
            "data": data,
            "usage": {"prompt_tokens": result.tokens, "total_tokens": result.tokens},
        }

    @app.post("/predict", response_model=PredictResponse)
    async def predict(request: PredictRequest) -> dict:
        """Labels and, when the classifier has them, each label's probability."""
        result = await answer(request.texts)
        proba = None if result.proba is None else [dict(zip(clf.labels_, row.tolist())) for row in result.proba]
        return {"labels": result.labels, "proba": proba}

    @app.get("/health", response_model=Health)
    async def health() -> dict:
        return {"status": "ok", "method": clf.method_name, "labels": clf.labels_}

    @app.get("/v1/models", response_model=ModelList)
    async def models() -> dict:
        """The served model, as OpenAI and vLLM list theirs."""
        return {"data": [{"id": name, "created": created, "root": root}]}

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        """Prometheus text format: requests, errors, latency, batch sizes, queue depth."""
        return Response(content=metrics.render(), media_type=metrics.content_type)

    return app


def serve(model: str | Path | Classifier, host: str = "127.0.0.1", port: int = 8000, **options) -> None:
    """Run the app under uvicorn until interrupted; `options` are `ServeOptions` fields."""
    import uvicorn

    app = create_app(model, **options)
    # On SIGINT/SIGTERM, requests in flight may take up to their timeout: give them that long.
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=app.state.options.request_timeout_s + 1)
