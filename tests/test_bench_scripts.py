"""The evidence scripts under bench/ that compute something the library does not: their arithmetic."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from causalclf import EmbeddingHeadClassifier
from tests.toy import toy_single_label

BENCH = Path(__file__).resolve().parents[1] / "bench"
FAST = dict(
    epochs=3, batch_size=8, learning_rate=5e-3, progress_bar=False, logging_steps=1000, early_stopping_patience=None
)


def bench_script(name: str):
    """A script of bench/, imported as a module, as running it would (its folder on the path, for its helpers)."""
    if str(BENCH) not in sys.path:
        sys.path.append(str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as an import would: dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_long_text_windows_cut_every_text_and_the_first_window_is_what_the_head_predicts(tiny_llama):
    windows = bench_script("long_text_windows")
    texts, labels = toy_single_label()
    clf = EmbeddingHeadClassifier(model=tiny_llama, max_length=3, batch_size=8, training=FAST).fit(texts, labels)

    logits, owner, rank = windows.window_logits(clf, texts)
    n_tokens = [len(ids) for ids in clf.tokenizer_(texts)["input_ids"]]
    assert np.bincount(owner, minlength=len(texts)).tolist() == [min(-(-n // 3), 8) for n in n_tokens]
    assert max(n_tokens) > 3  # some texts really have several windows
    np.testing.assert_allclose(logits[rank == 0], clf.decision_function(texts), atol=1e-5)

    y = clf.label_space_.encode(labels)
    scored = windows.scores(logits, owner, rank, y, len(texts))
    assert scored["mean_logits_w1"] == round(
        f1_score(y, clf.label_space_.encode(clf.predict(texts)), average="macro"), 4
    )


def test_long_text_windows_average_the_first_w_windows_of_each_text():
    windows = bench_script("long_text_windows")
    # text 0: its first window says class 0, its next two say class 1 more strongly; text 1: always class 1
    logits = np.array([[2.0, 0.0], [0.0, 3.0], [0.0, 3.0], [0.0, 1.0]])
    owner, rank = np.array([0, 0, 0, 1]), np.array([0, 1, 2, 0])
    y = np.array([0, 1])
    scored = windows.scores(logits, owner, rank, y, 2)
    assert scored["mean_logits_w1"] == 1.0  # both right from the first window alone
    assert scored["mean_logits_w2"] == scored["mean_logits_w3"] == round(f1_score(y, [1, 1], average="macro"), 4)


def test_a_random_backbone_keeps_the_architecture_and_tokenizer_with_new_weights(tiny_llama, tmp_path, monkeypatch):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    script = bench_script("random_backbone")
    out = tmp_path / "random"
    monkeypatch.setattr(sys, "argv", ["random_backbone.py", tiny_llama, str(out), "--dtype", "float32", "--seed", "1"])
    script.main()
    source, random = (AutoModelForCausalLM.from_pretrained(p) for p in (tiny_llama, out))
    shapes = {n: p.shape for n, p in source.named_parameters()}
    assert {n: p.shape for n, p in random.named_parameters()} == shapes
    assert not torch.equal(source.model.layers[0].mlp.up_proj.weight, random.model.layers[0].mlp.up_proj.weight)
    tokenizers = [AutoTokenizer.from_pretrained(p) for p in (out, tiny_llama)]
    assert tokenizers[0]("the match and the bank").input_ids == tokenizers[1]("the match and the bank").input_ids

    # The 1B shape: Llama-3.2-1B's blocks around the source's vocabulary (built on the meta device: no memory).
    config = AutoConfig.from_pretrained(tiny_llama)
    config.update({**script.SHAPES["llama-3.2-1b"], "vocab_size": 49152})
    with torch.device("meta"):
        big = AutoModelForCausalLM.from_config(config)
    blocks = sum(p.numel() for p in big.model.layers.parameters())
    assert blocks == 16 * (2 * 2048 * 2048 + 2 * 2048 * 512 + 3 * 2048 * 8192 + 2 * 2048)  # q,o; k,v; mlp; 2 norms


def test_batch_gain_times_every_layout_and_the_layouts_give_the_same_probabilities(tiny_llama):
    from causalclf.runtime.packing import packed_collate

    gain = bench_script("batch_gain")
    texts, labels = toy_single_label()
    clf = EmbeddingHeadClassifier(model=tiny_llama, max_length=16, batch_size=8, training=FAST).fit(texts, labels)
    rows = clf.encode(texts[:6])
    assert len({len(r["input_ids"]) for r in rows}) > 1  # lengths differ, so the layouts differ
    widths, kernels = {}, {}
    layouts = gain.Layouts(clf)
    for layout in gain.LAYOUTS:
        layouts.use(layout)
        backbone = clf._inference_model().backbone
        batch = packed_collate(backbone, clf.tokenizer_, clf._collate)(rows) if clf.packing else clf._collate(rows)
        widths[layout] = tuple(batch["input_ids"].shape)
        kernels[layout] = {type(m).__name__ for m in backbone.modules() if hasattr(m, "in_features")}
    assert widths["one_row"] == widths["one_row_unpacked"] == (1, sum(len(r["input_ids"]) for r in rows))
    assert kernels["one_row_unpacked"] == {"Linear"}
    assert all(kernels[layout] == {"PackedLinear"} for layout in ("padded", "rows", "one_row"))
    assert widths["padded"] == (6, max(len(r["input_ids"]) for r in rows))
    assert 1 < widths["rows"][0] < 6 and widths["rows"][1] == widths["padded"][1]

    result = gain.measure(clf, texts, [1, 4], n_texts=8, rounds=2)
    assert all(
        len(runs) == 2 and min(runs) > 0
        for by_size in result["texts_per_second_per_round"].values()
        for runs in by_size.values()
    )
    assert result["gain_over_batch_1"]["padded"][1] == 1.0
    assert max(result["max_probability_difference"].values()) < 1e-5
