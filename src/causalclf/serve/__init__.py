"""HTTP inference for a saved classifier: `causalclf serve MODEL_DIR` (FastAPI + uvicorn).

    POST /classify   {"input": str | [str], "model"?: str}  vLLM's classification API (also /v1/classify)
    POST /predict    {"texts": [...]} -> {"labels": [...], "proba": [{label: p}, ...] | null}
    GET  /health     {"status": "ok", "method": ..., "labels": [...]}
    GET  /v1/models  the served model, OpenAI/vLLM style
    GET  /metrics    Prometheus text format
    GET  /docs       Swagger UI (and /redoc), from local assets: no network needed

One module per concept: `options` (every knob), `limits` (what a request may ask), `batcher`
(the one inference worker and its micro-batching queue), `metrics` (Prometheus), `schemas`
(request and response bodies), `app` (routes, `create_app`, `serve`).
"""

from __future__ import annotations

from causalclf.errors import MissingDependency
from causalclf.serve.options import ServeOptions

__all__ = ["ServeOptions", "create_app", "serve"]

_EXTRA = {"fastapi", "starlette", "pydantic", "uvicorn", "prometheus_client", "fastapi_offline"}


def __getattr__(name: str):
    # `create_app` and `serve` load on first use: the CLI reads `ServeOptions` to build its
    # help, and that must work without the serve extra installed.
    if name not in ("create_app", "serve"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from causalclf.serve import app
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in _EXTRA:
            raise
        raise MissingDependency(
            f"serving needs the serve extra ({e.name} is missing): pip install 'causalclf[serve]'", name=e.name
        ) from e
    return getattr(app, name)
