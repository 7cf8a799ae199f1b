"""The inference copy's leaner modules and mask-free right padding: the same numbers, and only where they hold."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from transformers import AutoModel

from causalclf import EmbeddingHeadClassifier
from causalclf.methods.batching import collate
from causalclf.methods.embedding_head.model import pooled_features
from causalclf.methods.embedding_head.pooling import pool
from causalclf.methods.lean_forward import GatedMLP, lean
from causalclf.methods.packing import backbone_inputs, unmasked_correctly
from tests.toy import toy_single_label

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

    lean(model)
    assert sum(isinstance(m, GatedMLP) for m in model.modules()) == model.config.num_hidden_layers
    assert sum(isinstance(m, nn.RMSNorm) for m in model.modules()) == norms == 2 * model.config.num_hidden_layers + 1
    torch.testing.assert_close(_hidden(model, ids), want, rtol=0, atol=1e-6)
    assert model.norm.weight is final_norm_weight  # shared with the swapped norm, not copied
    assert set(model.state_dict()) == set(AutoModel.from_pretrained(tiny_llama).state_dict())


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
    bert = BertModel(BertConfig(vocab_size=len(clf.tokenizer_), hidden_size=16, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=32)).eval()
    assert not unmasked_correctly(bert, clf.tokenizer_)
    assert "attention_mask" in backbone_inputs(collate(clf.tokenizer_, clf.encode(TEXTS)), bert)


def test_predictions_of_the_lean_merged_copy_match_the_trained_model(tiny_llama):
    texts, labels = toy_single_label(60)
    clf = EmbeddingHeadClassifier(model=tiny_llama, max_length=16, batch_size=5, packing=False, training=dict(
        epochs=2, batch_size=8, learning_rate=5e-3, progress_bar=False, early_stopping_patience=None)).fit(texts, labels)
    assert any(isinstance(m, GatedMLP) for m in clf._inference_model().modules())
    trained = clf.proba_from_logits(clf._logits_of(clf.model_, texts))
    np.testing.assert_allclose(clf.predict_proba(texts), trained, atol=1e-5)
