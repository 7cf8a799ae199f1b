"""Start-up, shutdown and the CLI: in-flight requests survive a shutdown; flags reach the app."""

from __future__ import annotations

import socket

import pytest
from fastapi.testclient import TestClient

from causalclf.serve import create_app
from causalclf.serve.batcher import WorkerStopped
from tests.serve.conftest import TEXTS, Gate, fire, live_server, queued_behind_gate, wait_until


def _refuses_connections(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


def test_shutdown_finishes_the_requests_in_flight(clf):
    gate = Gate(clf)
    app = create_app(clf, max_wait_ms=0)
    with live_server(app) as (server, url):
        futures = fire(url, [{"texts": [t]} for t in TEXTS + TEXTS])
        queued_behind_gate(url, gate, 6)
        server.should_exit = True  # what uvicorn does on SIGINT / SIGTERM
        wait_until(lambda: _refuses_connections(url), what="the server to stop accepting")
        gate.open()
        replies = [f.result() for f in futures]
    assert [r.status_code for r in replies] == [200] * 6
    assert [r.json()["labels"] for r in replies] == [["sport"], ["money"], ["film"]] * 2
    with pytest.raises(WorkerStopped, match="shutting down"):  # the lifespan stopped the worker after the drain
        app.state.batcher.submit(["goal"])


def test_a_request_without_the_lifespan_gets_503_not_a_hang(clf):
    reply = TestClient(create_app(clf)).post("/predict", json={"texts": TEXTS})  # no `with`: no lifespan
    assert reply.status_code == 503 and "not started" in reply.json()["detail"]


def test_cli_flags_reach_serve(tmp_path, clf, monkeypatch):
    from causalclf import cli
    from causalclf.serve import ServeOptions, app

    calls = []
    monkeypatch.setattr(app, "serve", lambda *args, **kwargs: calls.append((args, kwargs)))
    assert (
        cli.main(
            [
                "serve",
                str(tmp_path),
                "--port",
                "9001",
                "--max-batch-size",
                "1",
                "--max-wait-ms",
                "2.5",
                "--request-timeout-s",
                "7",
                "--served-model-name",
                "topics",
            ]
        )
        == 0
    )
    ((args, kwargs),) = calls
    assert args == (str(tmp_path),)
    assert kwargs == {
        **vars(ServeOptions(max_batch_size=1, max_wait_ms=2.5, request_timeout_s=7.0, served_model_name="topics")),
        "host": "127.0.0.1",
        "port": 9001,
    }


def test_bad_option_values_are_refused_before_the_model_loads(tmp_path, capsys):
    from causalclf import cli

    assert cli.main(["serve", str(tmp_path / "missing"), "--max-texts", "0"]) == 2
    assert "--max-texts: 0 must be above 0" in capsys.readouterr().err


def test_without_the_serve_extra_the_error_says_what_to_install(monkeypatch):
    import sys

    import causalclf.serve

    monkeypatch.delitem(sys.modules, "causalclf.serve.app")
    monkeypatch.delattr(causalclf.serve, "app")
    monkeypatch.setitem(sys.modules, "fastapi_offline", None)  # as if not installed
    with pytest.raises(ImportError, match=r"fastapi_offline is missing\): pip install 'causalclf\[serve\]'"):
        _ = causalclf.serve.create_app
    assert causalclf.serve.ServeOptions().max_batch_size == 32  # the options need no extra
