"""Sharded prediction: two processes under a launcher write one output equal to a lone process's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pandas as pd
import pytest

from causalclf.inference import predict_file
from tests.inference._inputs import write_texts
from tests.toy import toy_single_label

pytestmark = pytest.mark.processes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LAUNCHERS = {
    # accelerate starts several CPU processes through torchrun only with --multi_gpu (--cpu wants mpirun);
    # with no GPU visible each process joins the group on CPU (gloo).
    "accelerate": lambda port: [
        os.path.join(BIN, "accelerate"),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(port),
        "-m",
        "causalclf",
    ],
    "torchrun": lambda port: [
        os.path.join(BIN, "torchrun"),
        "--nproc_per_node",
        "2",
        "--master_port",
        str(port),
        "-m",
        "causalclf",
    ],
}


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_two_processes_write_what_one_writes(tmp_path, tfidf_model, launcher):
    base = toy_single_label(10, seed=11)[0]
    path = write_texts(tmp_path, "csv", [f"{base[i % len(base)]} {i}" if i % 17 else " " for i in range(150)])
    alone = tmp_path / "alone.parquet"
    predict_file(tfidf_model, path, alone, text="body", on_error="skip", chunk_rows=7, progress=False)

    sharded = tmp_path / "sharded.parquet"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": os.path.join(REPO, "src")}
    run = subprocess.run(
        [
            *LAUNCHERS[launcher](_free_port()),
            "predict",
            tfidf_model,
            str(path),
            "--text",
            "body",
            "-o",
            str(sharded),
            "--on-error",
            "skip",
            "--chunk-rows",
            "7",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "over 2 processes" in run.stderr and run.stderr.count("wrote 141 predictions") == 1  # the main reports
    a, b = pd.read_parquet(alone), pd.read_parquet(sharded)
    assert list(b.id) == list(a.id) and list(b.label) == list(a.label)  # same rows, same order
    pd.testing.assert_frame_equal(b, a, check_exact=False, atol=1e-6, rtol=0)
    assert not (tmp_path / "sharded.parquet.parts").exists()
