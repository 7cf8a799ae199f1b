"""Packed (padding-free) inference: the layout of a packed batch, and the same results as padding."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from causalclf import EmbeddingHeadClassifier
from causalclf.methods.embedding_head import classifier as embedding_head
from causalclf.methods.embedding_head.layers import pooled_layers
from causalclf.runtime.packing import pack, packs_correctly
from tests.toy import toy_single_label

FAST = dict(
    epochs=3, batch_size=8, learning_rate=5e-3, progress_bar=False, logging_steps=1000, early_stopping_patience=None
)
WORDS = "the match goal team player win money bank market stock price film vote law party".split()
TEXTS = [" ".join(WORDS[:n]) for n in (1, 9, 2, 15, 4, 3, 12, 1, 7, 5, 2, 11)]


@given(lengths=st.lists(st.integers(1, 20), min_size=1, max_size=40), capacity=st.integers(1, 50))
def test_a_packed_batch_holds_every_token_once_in_order_with_positions_restarting(lengths, capacity):
    rows = [{"input_ids": list(range(100 * i + 1, 100 * i + 1 + n))} for i, n in enumerate(lengths)]
    batch = pack(rows, pad_id=0, capacity=capacity)
    ids, positions = batch["input_ids"], batch["position_ids"]
    assert ids.shape[1] <= max(capacity, *lengths)
    flat_ids, flat_pos = ids.flatten(), positions.flatten()
    for i, n in enumerate(lengths):
        where = batch["token_index"][i, :n]
        assert flat_ids[where].tolist() == rows[i]["input_ids"]  # the text, in order
        assert flat_pos[where].tolist() == list(range(n))  # its own positions
        assert batch["attention_mask"][i].tolist() == [1] * n + [0] * (max(lengths) - n)
    used = torch.cat([batch["token_index"][i, :n] for i, n in enumerate(lengths)])
    assert len(set(used.tolist())) == sum(lengths)  # no token slot shared by two texts
    assert int((flat_ids != 0).sum()) == sum(lengths)  # everything else is padding
    # first fit: no two rows could have been merged
    fill = (ids != 0).sum(1).tolist()
    assert all(a + b > max(capacity, *lengths) for k, a in enumerate(fill) for b in fill[k + 1 :])


@given(lengths=st.lists(st.integers(1, 20), min_size=1, max_size=40))
def test_by_default_rows_are_as_wide_as_the_longest_text_and_fewer_than_padded(lengths):
    rows = [{"input_ids": [7] * n} for n in lengths]
    batch = pack(rows, pad_id=0)
    assert batch["input_ids"].shape[1] == max(lengths)
    assert batch["input_ids"].shape[0] <= len(lengths)


def test_a_batch_where_no_two_texts_share_a_row_is_padded_instead():
    from causalclf.runtime.packing import pack_or_pad

    padded = lambda rows: {"padded": len(rows)}  # noqa: E731
    assert pack_or_pad([{"input_ids": [1] * n} for n in (9, 8, 6)], 0, padded) == {"padded": 3}  # 8 + 6 > 9
    assert "token_index" in pack_or_pad([{"input_ids": [1] * n} for n in (9, 5, 4)], 0, padded)  # 5 + 4 fit


def _spy_pack(monkeypatch) -> list[tuple[int, int, int]]:
    """Records (texts, rows, width) of every packed batch the classifier runs."""
    shapes, real = [], embedding_head.packed_collate

    def spy(*args, **kwargs):
        collate = real(*args, **kwargs)

        def recorded(rows):
            batch = collate(rows)
            if "token_index" in batch:
                shapes.append((len(rows), *batch["input_ids"].shape))
            return batch

        return recorded

    monkeypatch.setattr(embedding_head, "packed_collate", spy)
    return shapes


@pytest.mark.parametrize(
    "pooling, padding_side", [("last", "right"), ("mean", "right"), ("max", "right"), ("last", "left")]
)
def test_packed_features_equal_padded_ones_and_use_fewer_rows(tiny_llama, monkeypatch, pooling, padding_side):
    shapes = _spy_pack(monkeypatch)
    packed = EmbeddingHeadClassifier(
        model=tiny_llama, pooling=pooling, batch_size=6, max_length=16, padding_side=padding_side
    ).embed(TEXTS)
    padded = EmbeddingHeadClassifier(
        model=tiny_llama, pooling=pooling, batch_size=6, max_length=16, packing=False
    ).embed(TEXTS)
    np.testing.assert_allclose(packed, padded, atol=1e-5)
    assert [texts for texts, _, _ in shapes] == [6, 6]  # both batches had texts that share a row
    assert all(rows < texts for texts, rows, _ in shapes)


def test_a_lora_head_predicts_the_same_packed_and_padded(tiny_llama, monkeypatch):
    texts, labels = toy_single_label(6)
    clf = EmbeddingHeadClassifier(model=tiny_llama, max_length=16, batch_size=8, training=FAST).fit(texts, labels)
    shapes = _spy_pack(monkeypatch)
    packed = clf.predict_proba(TEXTS)
    assert shapes  # the merged inference copy ran packed
    padded = clf.set_params(packing=False).predict_proba(TEXTS)
    np.testing.assert_allclose(packed, padded, atol=1e-5)


def test_every_layer_pools_the_same_packed_and_padded(tiny_llama):
    clf = EmbeddingHeadClassifier(model=tiny_llama, max_length=16)
    backbone = clf._base_backbone()
    rows = clf.encode(TEXTS)
    with torch.no_grad():
        for pooling in ("last", "mean"):
            padded = pooled_layers(backbone, clf._collate(rows), pooling)
            packed = pooled_layers(backbone, pack(rows, clf.tokenizer_.pad_token_id), pooling)
            np.testing.assert_allclose(packed.numpy(), padded.numpy(), atol=1e-5)


class IgnoresPositions(nn.Module):
    """A backbone that drops position ids, as custom code might: packed texts then see each other."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, attention_mask=None, position_ids=None, **kwargs):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask, **kwargs)


def test_a_backbone_that_mixes_packed_texts_is_run_padded_with_a_warning(tiny_llama, monkeypatch, caplog):
    clf = EmbeddingHeadClassifier(model=tiny_llama, max_length=16, batch_size=6)
    backbone = clf._base_backbone()
    assert packs_correctly(backbone, clf.tokenizer_)
    reference = clf.embed(TEXTS)
    clf._frozen_backbone = IgnoresPositions(backbone)
    shapes = _spy_pack(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="causalclf.runtime.packing"):
        emb = clf.embed(TEXTS)
    assert "does not keep packed texts apart" in caplog.text
    assert not shapes
    np.testing.assert_allclose(emb, reference, atol=1e-5)
    # what packing would have given it: the wrong features the probe caught
    rows = clf.encode(TEXTS[:6])
    mixed = embedding_head.pooled_features(clf._frozen_backbone, pack(rows, clf.tokenizer_.pad_token_id), "last")
    assert np.abs(mixed.detach().numpy() - reference[:6]).max() > 1e-2


# ---------------------------------------------------------------- one row per batch, attention per text
def _segment_reference(query, key, value, lengths):
    """Attention of texts laid end to end, each causal over itself, through a dense (row x row) mask."""
    seg = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    pos = torch.arange(len(seg))
    mask = (seg[:, None] == seg[None, :]) & (pos[None, :] <= pos[:, None])
    groups = query.shape[1] // key.shape[1]
    return nn.functional.scaled_dot_product_attention(
        query, key.repeat_interleave(groups, 1), value.repeat_interleave(groups, 1), attn_mask=mask
    )


@given(lengths=st.lists(st.integers(1, 4), min_size=1, max_size=10), kv_heads=st.sampled_from([1, 2, 4]))
def test_segment_attention_gives_each_text_of_a_row_the_attention_it_gets_alone(lengths, kv_heads):
    from causalclf.runtime.packing import segment_attention

    g = torch.Generator().manual_seed(len(lengths))
    total = sum(lengths)
    query = torch.randn(1, 4, total, 8, generator=g)
    key, value = (torch.randn(1, kv_heads, total, 8, generator=g) for _ in range(2))
    positions = torch.cat([torch.arange(n) for n in lengths])[None]
    module = nn.Module()
    module.num_key_value_groups, module.is_causal = 4 // kv_heads, True
    out, weights = segment_attention(module, query, key, value, None, scaling=8**-0.5, position_ids=positions)
    assert weights is None and out.shape == (1, total, 4, 8)
    want = _segment_reference(query, key, value, lengths).transpose(1, 2)
    torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5)


def _hidden(backbone, **inputs):
    with torch.no_grad():
        return backbone(**inputs).last_hidden_state


def test_a_backbone_attending_per_text_keeps_sdpa_results_on_masked_and_cached_inputs(tiny_llama):
    """The switch may only change one unmasked row: padded batches with their mask (either side) and a
    continuation over a KV cache must get what SDPA gives them."""
    from transformers import AutoModel

    from causalclf.runtime.packing import SEGMENTS, attend_per_text

    sdpa = AutoModel.from_pretrained(tiny_llama, attn_implementation="sdpa").eval()
    segments = attend_per_text(AutoModel.from_pretrained(tiny_llama, attn_implementation="sdpa").eval())
    assert segments.config._attn_implementation == SEGMENTS and sdpa.config._attn_implementation == "sdpa"
    ids = torch.randint(3, 60, (3, 7), generator=torch.Generator().manual_seed(0))
    for mask in (
        torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5]),  # right padding
        torch.tensor([[1] * 7, [0] * 3 + [1] * 4, [0] * 5 + [1] * 2]),
    ):  # left padding
        real = mask.bool()
        torch.testing.assert_close(
            _hidden(segments, input_ids=ids, attention_mask=mask)[real],
            _hidden(sdpa, input_ids=ids, attention_mask=mask)[real],
            atol=1e-5,
            rtol=1e-5,
        )
    prefix, more = ids[:1, :5], ids[:1, 5:]
    outputs = []
    for model in (sdpa, segments):
        with torch.no_grad():
            cache = model(input_ids=prefix, use_cache=True).cache
            outputs.append(model(input_ids=more, cache=cache, use_cache=True).last_hidden_state)
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-5, rtol=1e-5)


def test_only_sdpa_backbones_on_a_cpu_switch_to_attention_per_text(tiny_llama):
    from transformers import AutoModel

    from causalclf.runtime.packing import attend_per_text

    eager = attend_per_text(AutoModel.from_pretrained(tiny_llama, attn_implementation="eager"))
    assert eager.config._attn_implementation == "eager"


def test_the_inference_copy_runs_each_batch_as_one_row_without_padding(tiny_llama, monkeypatch):
    from causalclf.runtime.packing import SEGMENTS

    texts, labels = toy_single_label(6)
    clf = EmbeddingHeadClassifier(model=tiny_llama, max_length=16, batch_size=5, training=FAST).fit(texts, labels)
    shapes = _spy_pack(monkeypatch)
    one_row = clf.predict_proba(TEXTS)
    assert clf._inference_model().backbone.config._attn_implementation == SEGMENTS
    assert clf.model_.backbone.base_model.model.config._attn_implementation == "sdpa"  # training never sees it
    assert [rows for _, rows, _ in shapes] == [1, 1, 1]  # 12 texts in batches of 5
    assert sum(width for _, _, width in shapes) == sum(len(r["input_ids"]) for r in clf.encode(TEXTS))  # no pad
    padded = clf.set_params(packing=False).predict_proba(TEXTS)
    np.testing.assert_allclose(one_row, padded, atol=1e-5)
