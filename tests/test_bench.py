"""causalclf bench: timings per batch size, counted FLOPs, the matmul peak, restored settings, the CLI verb."""

from __future__ import annotations

import json

import pytest

from causalclf import EncoderClassifier, TfidfClassifier
from causalclf.bench import count_kernels, document_tokens, matmul_peak, measure_throughput
from causalclf.cli import main
from causalclf.runtime.lean import onednn_linear
from tests.methods._encoders import fast_training, one_thread, tiny_bert  # noqa: F401  (fixtures)
from tests.test_bench_scripts import bench_script
from tests.toy import toy_single_label

pytestmark = pytest.mark.usefixtures("one_thread")

LINEAR_WEIGHTS_PER_LAYER = 4 * 32 * 32 + 2 * 32 * 64  # q, k, v, o and the two feed-forward matrices of tiny_bert


@pytest.fixture(scope="module")
def encoder(tiny_bert):
    return EncoderClassifier(model=tiny_bert, training=fast_training(epochs=1), batch_size=16).fit(*toy_single_label(6))


def test_times_each_batch_size_and_counts_the_flops_executed(encoder):
    texts = toy_single_label(5, seed=3)[0]
    one, four = measure_throughput(encoder, texts, batch_sizes=[1, 4], repeats=2)
    assert (one.batch_size, four.batch_size) == (1, 4) and encoder.batch_size == 16  # restored
    for r in (one, four):
        assert r.n_texts == len(texts) and r.docs_per_second == pytest.approx(len(texts) / r.seconds)
        assert r.flops_per_second == pytest.approx(r.flops_per_text * len(texts) / r.seconds)
        assert r.mfu is None  # no known peak on a CPU
    # One text per batch: no padding, so at least the 2 x weights x tokens of the linear layers
    # (each text also carries its [CLS] start token), plus attention and the head on top.
    tokens = sum(len(ids) for ids in encoder.tokenizer_(texts)["input_ids"])
    floor = 2 * 2 * LINEAR_WEIGHTS_PER_LAYER * tokens / len(texts)
    assert floor <= one.flops_per_text <= 1.5 * floor
    assert four.flops_per_text >= one.flops_per_text  # padded batches compute on padding too


def test_matmul_peak_counts_2n3_flops_per_matmul_and_keeps_the_fastest():
    peak = matmul_peak(sizes=[64, 128], repeats=2)
    assert (peak.device, peak.dtype, peak.threads) == ("cpu", "float32", 1)
    assert peak.flops_per_matmul == 2 * peak.size**3 and peak.size in (64, 128)
    assert peak.flops_per_second == pytest.approx(peak.flops_per_matmul / peak.seconds)
    assert peak.kernel in (("torch.mm", "oneDNN") if onednn_linear() else ("torch.mm",))  # the faster of the two


def test_model_flops_are_reported_as_a_share_of_the_matmul_peak_measured_in_the_run(encoder):
    texts = toy_single_label(5, seed=3)[0]
    (measured,) = measure_throughput(encoder, texts, batch_sizes=[4], repeats=1)
    assert measured.matmul_peak_flops > 0
    assert measured.share_of_matmul_peak == pytest.approx(measured.flops_per_second / measured.matmul_peak_flops)
    assert 0 < measured.share_of_matmul_peak < 1.5  # a tiny BERT cannot beat the machine's own matmuls
    given = matmul_peak(sizes=[64], repeats=1)
    (row,) = measure_throughput(encoder, texts, batch_sizes=[4], repeats=1, peak=given)
    assert row.matmul_peak_flops == given.flops_per_second


def test_every_attention_kernel_is_counted_grouped_query_attention_included():
    import torch
    from torch.utils.flop_counter import FlopCounterMode, flop_registry

    count_kernels()
    count_kernels()  # idempotent
    q, k, v = (torch.randn(2, 4, 16, 8) for _ in range(3))
    expected = 2 * (2 * 2 * 4 * 16 * 16 * 8)  # q k^T and (scores) v, 2 FLOPs per MAC
    shared_k, shared_v = k[:, :2], v[:, :2]  # GQA: 2 key/value heads serve the 4 query heads
    for keys, values, gqa in ((k, v, False), (shared_k, shared_v, True)):
        counter = FlopCounterMode(display=False)
        with counter:
            torch.nn.functional.scaled_dot_product_attention(q, keys, values, is_causal=True, enable_gqa=gqa)
        assert counter.get_total_flops() == expected  # the CPU kernel: torch itself counts nothing
    # The GPU kernels' formulas, called as FlopCounterMode calls them; torch < 2.13 raised on GQA here
    # (transformers runs smollm2 with enable_gqa on CUDA).
    for name in (
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
    ):
        assert flop_registry[getattr(torch.ops.aten, name)](q, shared_k, shared_v, out_val=None) == expected


@pytest.mark.skipif(not onednn_linear(), reason="this torch has no oneDNN linear ops")
def test_packed_linears_are_counted_and_replayed_like_the_matmuls_they_replace():
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from causalclf.runtime.lean import PackedLinear

    linear = torch.nn.Linear(32, 64)
    packed = PackedLinear(linear)
    x = torch.randn(4, 5, 32)
    counts = {}
    for name, layer in (("dense", linear), ("packed", packed)):
        count_kernels()
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            layer(x)
        counts[name] = counter.get_total_flops()
    assert counts["packed"] == counts["dense"] == 2 * 20 * 32 * 64
    with torch.no_grad():
        floor = bench_script("kernel_tools").kernel_floor(lambda: packed(x), repeats=2)
    (kernel,) = floor.kernels
    assert "_linear_pointwise" in kernel["op"] and kernel["shapes"][:2] == [[4, 5, 32], [64, 32]]
    assert kernel["flops_per_call"] == floor.flops == 2 * 20 * 32 * 64 and floor.seconds > 0


def test_kernel_floor_replays_each_kernel_shape_and_counts_its_calls():
    import torch

    layers = torch.nn.Sequential(
        torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32), torch.nn.Linear(32, 64)
    )
    x = torch.randn(16, 32)
    with torch.no_grad():
        floor = bench_script("kernel_tools").kernel_floor(lambda: layers(x), repeats=2)
    by_shape = {(k["op"], tuple(map(tuple, k["shapes"]))): k for k in floor.kernels}
    # The two 32 -> 64 layers run the same addmm shape: one replay, two calls.
    wide = by_shape[("aten.addmm.default", ((64,), (16, 32), (32, 64)))]
    narrow = by_shape[("aten.addmm.default", ((32,), (16, 64), (64, 32)))]
    assert (wide["calls"], narrow["calls"], len(floor.kernels)) == (2, 1, 2)
    assert wide["flops_per_call"] == narrow["flops_per_call"] == 2 * 16 * 32 * 64
    assert floor.flops == 3 * 2 * 16 * 32 * 64
    assert floor.seconds == pytest.approx(2 * wide["seconds_per_call"] + narrow["seconds_per_call"])
    assert floor.flops_per_second == pytest.approx(floor.flops / floor.seconds)


def test_document_tokens_respect_max_length(encoder):
    texts = ["money " * 40, "goal match"]
    assert document_tokens(encoder, texts) == 40 + 2  # under max_length: every word counts
    encoder.set_params(max_length=8)
    try:
        assert document_tokens(encoder, texts) == 8 + 2
    finally:
        encoder.set_params(max_length=256)


def test_methods_without_batches_or_torch_get_one_row():
    texts, labels = toy_single_label(6)
    (row,) = measure_throughput(TfidfClassifier().fit(texts, labels), texts, batch_sizes=[1, 8], repeats=1)
    assert row.batch_size is None and row.tokens_per_second is None and row.flops_per_text is None
    assert row.matmul_peak_flops is None and row.share_of_matmul_peak is None  # nothing to compare
    assert row.docs_per_second > 0
    with pytest.raises(ValueError, match="at least one text"):
        measure_throughput(TfidfClassifier().fit(texts, labels), [])


def test_bench_verb_writes_json(encoder, tmp_path, capsys):
    encoder.save_pretrained(tmp_path / "model")
    inputs = tmp_path / "texts.txt"
    inputs.write_text("\n".join(toy_single_label(3, seed=4)[0]) + "\n")
    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "bench",
                str(tmp_path / "model"),
                "--input",
                str(inputs),
                "--batch-sizes",
                "2",
                "--repeats",
                "1",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "docs/s" in printed and "of matmul peak" in printed and "matmul peak of this machine" in printed
    record = json.loads(out.read_text())
    assert 0 < record["results"][0]["share_of_matmul_peak"] < 1.5
    assert record["method"] == "encoder" and record["device"] == "cpu"
    assert [r["batch_size"] for r in record["results"]] == [2] and record["results"][0]["flops_per_text"] > 0
