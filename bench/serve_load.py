"""Load test of `causalclf serve`: throughput and latency with micro-batching on and off.

Starts the real server (`python -m causalclf serve`, a subprocess on a free loopback port)
on the same model with micro-batching (the default --max-batch-size, or the one given) and
without it (--max-batch-size 1); for a model that packs its batches (the embedding head's
`packing`), a third time micro-batched with padded batches, to show what packing adds. All
servers stay up for the whole run and are loaded in turn, in ROUNDS rounds of REQUESTS /
ROUNDS requests each, so that a machine whose speed drifts during the run (this one's varies
by up to 1.7x over a day) weighs on every mode alike; each ratio is also given per round. Each
time, CLIENTS concurrent clients (asyncio + httpx, one connection each) send POST /classify
requests of one AG News test text each (cycling through the texts), after a short untimed
warm-up. Reported per mode: throughput (requests/s), p50/p95/p99 and mean latency, errors,
the mean batch size the server's /metrics saw, and from the same metrics the share of the wall
time the worker spent in the model and its texts/s while there (which tells idle gaps from slow
forwards); then the ratios between the modes. The
servers are stopped with SIGTERM, so each run also goes through the graceful shutdown.
Results go to bench/results/serve_load_<name>.json.

    python bench/serve_load.py runs/ag-head/model                      # 2,000 requests, 16 clients
    python bench/serve_load.py runs/ag-tfidf/model --requests 300 --clients 16 --name tfidf-smoke
    python bench/serve_load.py runs/ag-head/model --max-wait-ms 50 --name ag-news-head-wait-50   # wait longer
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = Path(__file__).resolve().parent / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    model_dir: str, port: int, max_batch_size: int, log_path: Path, startup_s: float, max_wait_ms: float | None = None
) -> subprocess.Popen:
    """The server in a subprocess, once /health answers; its output goes to `log_path`."""
    import httpx

    log = log_path.open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "causalclf",
            "serve",
            model_dir,
            "--port",
            str(port),
            "--max-batch-size",
            str(max_batch_size),
            *([] if max_wait_ms is None else ["--max-wait-ms", str(max_wait_ms)]),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    end = time.monotonic() + startup_s
    while time.monotonic() < end:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode}; see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.kill()
    raise SystemExit(f"the server did not answer /health within {startup_s:.0f} s; see {log_path}")


def stop_server(server: subprocess.Popen, log_path: Path) -> str:
    """SIGTERM, as a process manager stops it; "graceful" if uvicorn drained and shut the app down."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=120)
    except subprocess.TimeoutExpired:
        server.kill()
        return "killed after 120 s"
    return "graceful" if "Application shutdown complete" in log_path.read_text() else f"exit code {server.returncode}"


async def load(url: str, texts: list[str], n_requests: int, clients: int) -> tuple[list[float], int, float]:
    """Latencies (s) of the successful requests, the error count, and the wall time of all `n_requests`."""
    import httpx

    latencies: list[float] = []
    errors = 0
    next_request = iter(range(n_requests))

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in next_request:  # one iterator shared by all clients: each request is sent once
            start = time.perf_counter()
            try:
                reply = await http.post("/classify", json={"input": texts[i % len(texts)]})
                ok = reply.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - start)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=300) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return latencies, errors, time.perf_counter() - start


def batch_totals(url: str) -> np.ndarray:
    """Texts, batches and model seconds the server has run so far, from its /metrics."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    samples = {
        s.name: s.value
        for family in text_string_to_metric_families(httpx.get(url + "/metrics").text)
        for s in family.samples
    }
    return np.array(
        [
            samples.get("causalclf_batch_size_sum", 0.0),
            samples.get("causalclf_batch_size_count", 0.0),
            samples.get("causalclf_batch_inference_seconds_sum", 0.0),
        ]
    )


def padded_copy(model_dir: Path, folder: Path) -> Path | None:
    """`model_dir` with ``packing: false`` (its weights linked, not copied); None for a model that does not pack."""
    from causalclf.methods.model_folder import CONFIG_NAME, read_config

    config = read_config(model_dir)
    if config["method"] != "embedding_head" or config["params"].get("packing") is False:  # absent: the default, on
        return None
    folder.mkdir()
    for entry in model_dir.resolve().iterdir():
        if entry.name != CONFIG_NAME:
            (folder / entry.name).symlink_to(entry)
    config["params"]["packing"] = False
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2))
    return folder


class Mode:
    """One running server and what its timed requests measured so far."""

    def __init__(self, model_dir: str, max_batch_size: int, args, log_path: Path) -> None:
        self.max_batch_size, self.log_path = max_batch_size, log_path
        self.max_wait_ms = args.max_wait_ms if max_batch_size > 1 else None  # batch 1 never waits
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.server = start_server(model_dir, port, max_batch_size, log_path, args.startup_timeout, self.max_wait_ms)
        self.latencies: list[float] = []
        self.errors, self.seconds = 0, 0.0
        self.totals = np.zeros(3)  # texts, batches, model seconds (`batch_totals`)
        self.round_rps: list[float] = []

    def load(self, texts: list[str], n_requests: int, clients: int, timed: bool = True) -> None:
        if not timed:
            asyncio.run(load(self.url, texts, n_requests, clients))
            return
        before = batch_totals(self.url)
        latencies, errors, seconds = asyncio.run(load(self.url, texts, n_requests, clients))
        self.totals += batch_totals(self.url) - before
        self.latencies += latencies
        self.errors += errors
        self.seconds += seconds
        self.round_rps.append(len(latencies) / seconds)

    def stop(self) -> dict:
        shutdown = stop_server(self.server, self.log_path)
        ms = np.asarray(self.latencies) * 1000
        texts, batches, model_seconds = self.totals
        return {
            "max_batch_size": self.max_batch_size,
            "max_wait_ms": self.max_wait_ms,  # None: serve's default
            "errors": self.errors,
            "seconds": self.seconds,
            "throughput_rps": len(self.latencies) / self.seconds if self.seconds else None,
            "throughput_rps_per_round": self.round_rps,
            "latency_ms": {
                "p50": float(np.percentile(ms, 50)),
                "p95": float(np.percentile(ms, 95)),
                "p99": float(np.percentile(ms, 99)),
                "mean": float(ms.mean()),
            }
            if len(ms)
            else None,
            "mean_batch_size": texts / batches if batches else None,
            # Where the time goes: the worker's share of the wall time in the model, and its rate while there.
            "model_busy_share": model_seconds / self.seconds if self.seconds else None,
            "model_texts_per_second": texts / model_seconds if model_seconds else None,
            "shutdown": shutdown,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per mode, over all rounds")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--max-batch-size", type=int, help="batch size of the batched mode (default: serve's)")
    parser.add_argument("--max-wait-ms", type=float, help="--max-wait-ms of the batched modes (default: serve's)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="rounds over the modes; each mode gets requests / rounds timed requests per round",
    )
    parser.add_argument("--warmup", type=int, default=64, help="untimed requests to each server before timing")
    parser.add_argument("--startup-timeout", type=float, default=600, help="seconds to wait for the model to load")
    parser.add_argument(
        "--name",
        help="results file suffix (default: the model folder's name, or its parent's "
        "when the folder is called `model`)",
    )
    args = parser.parse_args()

    from causalclf.data import load_dataset
    from causalclf.methods.model_folder import read_config
    from causalclf.serve.options import ServeOptions

    model = Path(args.model_dir)
    name = args.name or (model.resolve().parent.name if model.name == "model" else model.name)
    texts = load_dataset("ag_news")["test"].texts
    batched_size = args.max_batch_size or ServeOptions().max_batch_size
    RESULTS.mkdir(exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="causalclf-serve-load-")) / "server"
    modes = {"batched": (str(model), batched_size), "unbatched": (str(model), 1)}
    padded = padded_copy(model, logs.parent / "padded-model")
    if padded is not None:
        modes["batched_padded"] = (str(padded), batched_size)
    running: dict[str, Mode] = {}
    try:
        for key, (folder, size) in modes.items():
            running[key] = Mode(folder, size, args, Path(f"{logs}_{key}.log"))
            running[key].load(texts, args.warmup, args.clients, timed=False)
        per_round = -(-args.requests // args.rounds)
        for _ in range(args.rounds):
            for mode in running.values():
                mode.load(texts, per_round, args.clients)
    finally:
        measured = {key: mode.stop() for key, mode in running.items()}
    result = {
        "model_dir": str(model),
        "method": read_config(model)["method"],
        "texts": f"AG News test split ({len(texts)} texts), one per request, cycled",
        "requests": per_round * args.rounds,
        "rounds": args.rounds,
        "clients": args.clients,
        "endpoint": "POST /classify",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        **measured,
    }

    def ratios(on: dict, off: dict) -> dict:
        per_round = [a / b for a, b in zip(on["throughput_rps_per_round"], off["throughput_rps_per_round"])]
        return {
            "throughput": on["throughput_rps"] / off["throughput_rps"],
            "throughput_per_round": per_round,
            **(
                {f"latency_{q}": on["latency_ms"][q] / off["latency_ms"][q] for q in ("p50", "p95", "p99")}
                if on["latency_ms"] and off["latency_ms"]
                else {}
            ),
        }

    result["ratio_batched_to_unbatched"] = ratios(result["batched"], result["unbatched"])
    if padded is not None:
        result["ratio_padded_to_unbatched"] = ratios(result["batched_padded"], result["unbatched"])
        result["ratio_packed_to_padded"] = ratios(result["batched"], result["batched_padded"])
    out = RESULTS / f"serve_load_{name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(logs.parent)
    print(json.dumps(result, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
