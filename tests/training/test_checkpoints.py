"""Checkpoints: what they hold, and runs killed mid-epoch that resume to the very model of an uninterrupted run.

Killed runs are real subprocesses of the command line (`tests.training.harness` sends the
signal at a chosen update). Tolerance: test probabilities within 1e-6 of the uninterrupted
run, on CPU (they come out bitwise equal: same batches in the same order, same RNG states).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from safetensors import safe_open

from causalclf.training.loop import CheckpointError
from tests.toy import toy_single_label
from tests.training._runs import causalclf, interrupted, metrics, probabilities, write_config

pytestmark = pytest.mark.processes

TOLERANCE = 1e-6
# 24 training texts in batches of 4: 6 updates per epoch, 18 in all; a checkpoint every 2 updates. Batches
# are grouped by length (shuffled from the global RNG) and dropout stays on (LoRA 0.05, head 0.1): the
# restored RNG states decide both the data order and the dropout masks.
TRAINING = {
    "epochs": 3,
    "batch_size": 4,
    "learning_rate": 5e-3,
    "checkpoint_steps": 2,
    "logging_steps": 1,
    "early_stopping_patience": None,
    "progress_bar": False,
}
METHODS = {
    "embedding_head": {"method": "embedding_head", "lora": {"r": 4}, "training": TRAINING},
    "instruction": {"method": "instruction", "lora": {"r": 4}, "max_length": 16, "training": TRAINING},
}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, toy_file, tiny_llama):
    """Each method's run, trained in one go."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    for name, method in METHODS.items():
        causalclf("train", str(write_config(folder, toy_file, name, model=tiny_llama, **method)))
    return folder


def _same_run(resumed, whole) -> None:
    np.testing.assert_allclose(probabilities(resumed), probabilities(whole), rtol=0, atol=TOLERANCE)
    a, b = metrics(resumed), metrics(whole)
    assert a["macro_f1"] == b["macro_f1"] and a["accuracy"] == b["accuracy"]
    for key in ("steps", "best_validation_score", "attempts"):
        assert a["info"]["training"][key] == b["info"]["training"][key]


@pytest.mark.parametrize("name", list(METHODS))
def test_a_run_killed_mid_epoch_resumes_to_the_uninterrupted_model(name, tmp_path, toy_file, tiny_llama, uninterrupted):
    cfg = write_config(tmp_path, toy_file, name, model=tiny_llama, **METHODS[name])
    killed = interrupted(9, "KILL", "train", str(cfg))  # update 9: mid second epoch, after checkpoint 8
    assert killed.returncode == -9
    run = tmp_path / name
    kept = run / "checkpoints" / "seed-42"
    assert sorted(p.name for p in kept.iterdir()) == ["checkpoint-6", "checkpoint-8"]  # the newest 2
    assert not (run / "metrics.json").exists()

    resumed = causalclf("train", str(cfg), "--resume")
    assert f"resuming from {kept / 'checkpoint-8'}" in resumed.stderr
    _same_run(run, uninterrupted / name)
    assert not (run / "checkpoints").exists()  # the run is written: its checkpoints are gone


def test_sigterm_saves_a_checkpoint_at_that_update_then_ends_the_process(tmp_path, toy_file, tiny_llama, uninterrupted):
    method = METHODS["embedding_head"]
    cfg = write_config(
        tmp_path,
        toy_file,
        "embedding_head",
        model=tiny_llama,
        **{**method, "training": {**TRAINING, "checkpoint_steps": None}},
    )  # else: once per epoch
    stopped = interrupted(9, "TERM", "train", str(cfg))
    assert stopped.returncode == -15  # SIGTERM still ends the process, once the checkpoint is saved
    kept = tmp_path / "embedding_head" / "checkpoints" / "seed-42"
    assert sorted(p.name for p in kept.iterdir()) == ["checkpoint-6", "checkpoint-9"]
    state = json.loads((kept / "checkpoint-9" / "causalclf-state.json").read_text())
    assert state["step"] == 9 and not state["finished"]
    assert "SIGTERM at step 9" in stopped.stderr

    resumed = causalclf("train", str(cfg), "--resume")
    assert "checkpoint-9" in resumed.stderr
    _same_run(tmp_path / "embedding_head", uninterrupted / "embedding_head")


def test_compare_resumes_an_interrupted_run_from_its_checkpoints(tmp_path, toy_file, tiny_llama, uninterrupted):
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(
        yaml.safe_dump(
            {
                "data": {"path": str(toy_file), "text": "body", "label": "topic"},
                "seeds": [42],
                "output_dir": str(tmp_path / "out"),
                "methods": {"head": {**METHODS["embedding_head"], "model": tiny_llama}},
            }
        )
    )
    assert interrupted(9, "KILL", "compare", str(experiment)).returncode == -9
    run = tmp_path / "out" / "runs" / "head" / "seed-42"
    assert (run / "checkpoints").is_dir() and not (run / "metrics.json").exists()

    resumed = causalclf("compare", str(experiment))
    assert "resuming from" in resumed.stderr and "checkpoint-8" in resumed.stderr
    _same_run(run, uninterrupted / "embedding_head")  # the same seed and data: the model `train` makes


def test_a_checkpoint_holds_the_trainable_state_only(tmp_path, tiny_llama):
    from causalclf import EmbeddingHeadClassifier

    texts, labels = toy_single_label(4)
    folder = tmp_path / "checkpoints"
    training = {**TRAINING, "epochs": 1, "checkpoint_dir": str(folder)}
    clf = EmbeddingHeadClassifier(model=tiny_llama, lora={"r": 2}, training=training)
    clf.fit(texts, labels, validation=toy_single_label(2, seed=1))
    checkpoint = folder / "seed-42" / "checkpoint-3"  # 12 texts, batch 4: the last update
    assert sorted(p.name for p in checkpoint.iterdir()) == [
        "best.safetensors",
        "causalclf-state.json",
        "epoch-start-rng-0.pt",
        "optimizer.pt",
        "rng_state.pth",
        "scheduler.pt",
        "trainable.safetensors",
        "trainer_state.json",
    ]

    trainable = {n for n, p in clf.model_.named_parameters() if p.requires_grad}
    frozen = {n for n, p in clf.model_.named_parameters() if not p.requires_grad}
    for weights in ("trainable.safetensors", "best.safetensors"):
        with safe_open(str(checkpoint / weights), framework="pt") as f:
            assert set(f.keys()) == trainable  # LoRA matrices and the head, no backbone weight
    assert trainable and frozen and all("lora_" in n or n.startswith("head.") for n in trainable)
    optimizer = torch.load(checkpoint / "optimizer.pt", weights_only=True)
    assert len(optimizer["state"]) == len(trainable)  # AdamW moments of the trainable weights alone
    assert clf.train_result_.checkpoint_mb > 0 and clf.train_result_.model_mb > 0

    # Without resume, a folder holding checkpoints is refused, never overwritten or silently reused.
    with pytest.raises(CheckpointError, match="--resume"):
        EmbeddingHeadClassifier(model=tiny_llama, lora={"r": 2}, training=training).fit(texts, labels)

    # A training that had finished is restored from its last checkpoint, not trained again.
    again = EmbeddingHeadClassifier(model=tiny_llama, lora={"r": 2}, training={**training, "resume": True})
    again.fit(texts, labels, validation=toy_single_label(2, seed=1))
    assert again.train_result_.train_seconds == 0.0 and again.train_result_.steps == 3
    assert again.train_result_.best_score == clf.train_result_.best_score
    np.testing.assert_array_equal(again.predict_proba(texts), clf.predict_proba(texts))


def test_a_head_per_block_checkpoints_into_a_folder_per_block(tmp_path, tiny_llama):
    from causalclf import EmbeddingHeadClassifier

    texts, labels = toy_single_label(4)
    training = {**TRAINING, "epochs": 1, "checkpoint_dir": str(tmp_path)}
    clf = EmbeddingHeadClassifier(model=tiny_llama, lora=None, layer="best", training=training)
    clf.fit(texts, labels, validation=toy_single_label(2, seed=1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["block-1", "block-2"]  # the tiny Llama's 2 blocks
    again = EmbeddingHeadClassifier(model=tiny_llama, lora=None, layer="best", training={**training, "resume": True})
    again.fit(texts, labels, validation=toy_single_label(2, seed=1))
    assert again.layer_scores_ == clf.layer_scores_ and again.layer_ == clf.layer_
    np.testing.assert_array_equal(again.predict_proba(texts), clf.predict_proba(texts))


@pytest.mark.parametrize("quantization", [None, "4bit"])
def test_bf16_and_4bit_training_checkpoints_its_trainable_weights_and_resumes(tmp_path, request, quantization):
    """bf16 weights on CUDA; 4-bit NF4 on CUDA, or else on bitsandbytes' CPU kernels with the same bf16 compute."""
    from causalclf import EmbeddingHeadClassifier

    if quantization is None and not torch.cuda.is_available():
        pytest.skip("bf16 weights train on CUDA only (bf16 on a CPU is 6x slower, never chosen)")
    model = request.getfixturevalue("quantizable_llama" if quantization else "tiny_llama")
    dtype = "auto" if torch.cuda.is_available() else "bfloat16"  # auto: bf16 on CUDA
    texts, labels = toy_single_label(4)
    training = {**TRAINING, "epochs": 1, "checkpoint_dir": str(tmp_path / "checkpoints")}
    clf = EmbeddingHeadClassifier(model=model, lora={"r": 2}, quantization=quantization, dtype=dtype, training=training)
    clf.fit(texts, labels, validation=toy_single_label(2, seed=1))
    if quantization:
        from bitsandbytes.nn import Linear4bit

        assert any(isinstance(m, Linear4bit) for m in clf.model_.modules())
    else:
        assert any(p.dtype == torch.bfloat16 for p in clf.model_.parameters())
    with safe_open(str(tmp_path / "checkpoints" / "seed-42" / "checkpoint-3" / "trainable.safetensors"), "pt") as f:
        assert set(f.keys()) == {n for n, p in clf.model_.named_parameters() if p.requires_grad}
    again = EmbeddingHeadClassifier(
        model=model, lora={"r": 2}, quantization=quantization, dtype=dtype, training={**training, "resume": True}
    )
    again.fit(texts, labels, validation=toy_single_label(2, seed=1))
    np.testing.assert_array_equal(again.predict_proba(texts), clf.predict_proba(texts))
