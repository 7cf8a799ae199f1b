"""The inference copy's leaner modules and mask-free right padding: the same numbers, and only where they hold."""

from __future__ import annotations

import copy
import pickle
import weakref

import numpy as np
import pytest
import torch
from torch import nn
from transformers import AutoModel

from causalclf import EmbeddingHeadClassifier
from causalclf.methods.embedding_head.model import pooled_features
from causalclf.methods.embedding_head.pooling import pool
from causalclf.runtime import lean as lean_forward
from causalclf.runtime.batching import collate
from causalclf.runtime.lean import (
    ROWS,
    GatedMLP,
    PackedLinear,
    lean,
    onednn_linear,
)
from causalclf.runtime.packing import backbone_inputs, unmasked_correctly
from tests.toy import toy_single_label

ONEDNN = pytest.mark.skipif(not onednn_linear(), reason="this torch has no oneDNN linear ops: Linears stay")
TEXTS = ["the match", "the bank market stock price film vote law party goal team", "money", "vote law party win"]


def _hidden(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).last_hidden_state


def test_lean_swaps_every_gated_mlp_and_rmsnorm_and_keeps_the_hidden_states(tiny_llama):
    model = AutoModel.from_pretrained(tiny_llama).eval()
    for p in model.parameters():  # trained weights, not the init's ones and zeros
        p.data.add_(0.1 * torch.randn_like(p))
    ids = torch.randint(5, model.config.vocab_size, (3, 11), generator=torch.Generator().manual_seed(1))
    want = _hidden(model, ids)
    norms = sum(type(m).__name__.endswith("RMSNorm") for m in model.modules())
    final_norm_weight = model.norm.weight

    dense = {k: v.clone() for k, v in model.state_dict().items()}

    lean(model)
    layers = model.config.num_hidden_layers
    assert sum(isinstance(m, GatedMLP) for m in model.modules()) == layers
    assert sum(isinstance(m, nn.RMSNorm) for m in model.modules()) == norms == 2 * layers + 1
    packed = 7 * layers if onednn_linear() else 0  # q, k, v, o, gate, up, down
    assert sum(isinstance(m, PackedLinear) for m in model.modules()) == packed
    torch.testing.assert_close(_hidden(model, ids), want, rtol=0, atol=1e-6)
    assert model.norm.weight is final_norm_weight  # shared with the swapped norm, not copied
    state = model.state_dict()  # what an export reads: the same names and the same dense weights
    assert set(state) == set(dense)
    for name, value in dense.items():
        assert torch.equal(state[name], value), name


@ONEDNN
def test_a_packed_linear_computes_its_linear_and_copies_and_pickles_as_dense_weights():
    torch.manual_seed(0)
    for bias in (True, False):
        linear = nn.Linear(24, 40, bias=bias)
        x = torch.randn(3, 7, 24)[:, ::2]  # strided rows, as views of a batch reach a layer
        packed = PackedLinear(linear)
        with torch.no_grad():
            want = linear(x)
            torch.testing.assert_close(packed(x), want, rtol=0, atol=1e-5)
            for twin in (copy.deepcopy(packed), pickle.loads(pickle.dumps(packed))):
                assert isinstance(twin, PackedLinear) and twin.packed.is_mkldnn
                torch.testing.assert_close(twin(x), want, rtol=0, atol=1e-5)
        assert set(packed.state_dict()) == set(linear.state_dict())
        assert torch.equal(packed.state_dict()["weight"], linear.weight.detach())


@ONEDNN
def test_lean_packs_only_cpu_float32_linears_not_tied_to_another_module():
    class TiedLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(50, 16)
            self.hidden = nn.Linear(16, 16)
            self.head = nn.Linear(16, 50, bias=False)
            self.head.weight = self.embed.weight  # tied, as smollm2's LM head is to its embeddings
            self.wide = nn.Linear(16, 16).double()

        def forward(self, ids):
            return self.head(self.hidden(self.embed(ids)))

    model = lean(TiedLM().eval())
    assert isinstance(model.hidden, PackedLinear)
    assert type(model.head) is nn.Linear and model.head.weight is model.embed.weight  # packing it would hold it twice
    assert type(model.wide) is nn.Linear  # fp64: oneDNN's packed GEMM is fp32 here
    big = nn.Sequential(nn.Linear(1536, 576))  # real down projections give outputs near 50: rounding grows with them
    with torch.no_grad():
        big[0].weight.mul_(50)
    assert isinstance(lean(big)[0], PackedLinear)


class OnePlusWeightNorm(nn.Module):
    """Gemma's RMSNorm: scaled by 1 + weight, so torch's RMSNorm would change its output."""

    def __init__(self, width: int):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.zeros(width)), 1e-6

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * (1 + self.weight)


class GeluMLP(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.gate_proj, self.up_proj, self.down_proj = nn.Linear(width, 8), nn.Linear(width, 8), nn.Linear(8, width)
        self.act_fn = nn.GELU()

    def forward(self, x):
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class SiluMLP(GeluMLP):
    def __init__(self, width: int):
        super().__init__(width)
        self.act_fn = nn.SiLU()


class TwoInputMLP(SiluMLP):
    """Looks like a gated MLP, but its forward takes a second argument the check cannot give."""

    def forward(self, x, scale):
        return super().forward(x) * scale


def test_lean_keeps_modules_that_only_look_alike():
    model = nn.Sequential(OnePlusWeightNorm(6), GeluMLP(6), SiluMLP(6), TwoInputMLP(6))
    lean(model)
    assert isinstance(model[0], OnePlusWeightNorm) and isinstance(model[1], GeluMLP)
    assert isinstance(model[2], GatedMLP) and isinstance(model[3], TwoInputMLP)


@ONEDNN
def test_lean_frees_each_replaced_linear_before_checking_the_next(monkeypatch):
    """The dense weights go as the packed ones come, so building the copy does not hold the model twice."""
    model = nn.Sequential(*(nn.Linear(8, 8) for _ in range(6)))
    old = [weakref.ref(m) for m in model]
    alive = []
    check = lean_forward._same_output

    def counting(module, new):
        alive.append(sum(ref() is not None for ref in old))
        return check(module, new)

    monkeypatch.setattr(lean_forward, "_same_output", counting)
    lean(model)
    assert all(isinstance(m, PackedLinear) for m in model)
    assert alive == [6, 5, 4, 3, 2, 1]


def test_the_gated_mlp_runs_a_long_batch_in_slices_with_the_same_output():
    torch.manual_seed(0)
    mlp = SiluMLP(6)
    lean_mlp = GatedMLP(mlp.gate_proj, mlp.up_proj, mlp.down_proj)
    for shape in ((2, ROWS + 3, 6), (1, 2 * ROWS, 6), (3, 5, 6)):  # ragged, even and a single slice
        x = torch.randn(shape)
        with torch.no_grad():
            torch.testing.assert_close(lean_mlp(x), mlp(x), rtol=0, atol=1e-6)


def test_the_gated_mlp_still_trains_when_gradients_are_on():
    torch.manual_seed(0)
    mlp = SiluMLP(6)
    lean_mlp = GatedMLP(mlp.gate_proj, mlp.up_proj, mlp.down_proj)
    x = torch.randn(4, 6)
    (want,) = torch.autograd.grad(mlp(x).square().sum(), mlp.gate_proj.weight)
    (got,) = torch.autograd.grad(lean_mlp(x).square().sum(), mlp.gate_proj.weight)
    torch.testing.assert_close(got, want)


def test_a_causal_backbone_reads_right_padded_batches_without_the_mask(tiny_llama):
    clf = EmbeddingHeadClassifier(model=tiny_llama, max_length=16)
    backbone = clf._base_backbone()
    assert unmasked_correctly(backbone, clf.tokenizer_)
    batch = collate(clf.tokenizer_, clf.encode(TEXTS))
    assert "attention_mask" not in backbone_inputs(batch, backbone)
    assert "attention_mask" in backbone_inputs(batch)  # a backbone nobody checked keeps its mask
    left = {k: v.flip(1) for k, v in batch.items()}  # a left-padded batch keeps it too
    assert "attention_mask" in backbone_inputs(left, backbone)
    backbone.train()  # training keeps the mask: its numbers must not depend on a probe having run
    assert "attention_mask" in backbone_inputs(batch, backbone)
    backbone.eval()
    with torch.no_grad():
        hidden = backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        for pooling in ("last", "mean"):
            masked = pool(hidden, batch["attention_mask"], pooling)
            torch.testing.assert_close(pooled_features(backbone, batch, pooling), masked)


def test_a_bidirectional_backbone_keeps_its_mask(tiny_llama):
    from transformers import BertConfig, BertModel

    clf = EmbeddingHeadClassifier(model=tiny_llama, max_length=16)
    clf._base_backbone()
    bert = BertModel(
        BertConfig(
            vocab_size=len(clf.tokenizer_),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
        )
    ).eval()
    assert not unmasked_correctly(bert, clf.tokenizer_)
    assert "attention_mask" in backbone_inputs(collate(clf.tokenizer_, clf.encode(TEXTS)), bert)


def test_predictions_of_the_lean_merged_copy_match_the_trained_model(tiny_llama):
    texts, labels = toy_single_label(60)
    clf = EmbeddingHeadClassifier(
        model=tiny_llama,
        max_length=16,
        batch_size=5,
        packing=False,
        training=dict(epochs=2, batch_size=8, learning_rate=5e-3, progress_bar=False, early_stopping_patience=None),
    ).fit(texts, labels)
    assert any(isinstance(m, GatedMLP) for m in clf._inference_model().modules())
    trained = clf.proba_from_logits(clf._logits_of(clf.model_, texts))
    np.testing.assert_allclose(clf.predict_proba(texts), trained, atol=1e-5)
