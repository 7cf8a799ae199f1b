"""HTTP inference for a saved classifier (FastAPI): `causalclf serve MODEL_DIR`.

    GET  /health   -> {"status": "ok", "method": ..., "labels": [...]}
    POST /predict  {"texts": ["...", ...]} -> {"labels": [...], "proba": [{label: p}, ...]}

The model is loaded once at start-up. No `from __future__ import annotations` here:
FastAPI must resolve the request model, which is local to `create_app`, at run time.
"""

from pathlib import Path

MAX_TEXTS = 256


def create_app(model_dir: str | Path):
    try:
        from fastapi import FastAPI, HTTPException
        from pydantic import BaseModel, Field
    except ImportError as e:  # the serve extra is optional
        raise ImportError("serving needs the serve extra: pip install 'causalclf[serve]'") from e
    from causalclf.methods import load_classifier

    clf = load_classifier(model_dir)

    class PredictRequest(BaseModel):
        texts: list[str] = Field(..., min_length=1, max_length=MAX_TEXTS)

    app = FastAPI(title="causalclf", description=f"{clf.method_name} classifier from {model_dir}")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "method": clf.method_name, "labels": clf.labels_}

    @app.post("/predict")
    def predict(request: PredictRequest) -> dict:
        empty = [i for i, t in enumerate(request.texts) if not t.strip()]
        if empty:
            raise HTTPException(status_code=422, detail=f"texts at positions {empty} are empty")
        predictions = clf.predict_with_proba(request.texts)
        proba = None if predictions.proba is None else [dict(zip(clf.labels_, map(float, row)))
                                                        for row in predictions.proba]
        return {"labels": predictions.labels, "proba": proba}

    return app


def serve(model_dir: str | Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    uvicorn.run(create_app(model_dir), host=host, port=port)
