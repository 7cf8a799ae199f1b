"""EmbeddingHeadClassifier on tiny random Llamas: pooling, batching, parity, persistence, learning."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from causalclf import EmbeddingHeadClassifier
from tests.toy import toy_multi_label, toy_single_label

FAST = dict(
    epochs=12, batch_size=8, learning_rate=5e-3, progress_bar=False, logging_steps=1000, early_stopping_patience=None
)
TEXTS = ["the match", "money and bank market with the stock price today", "film", "a vote on the law for the party"]


def _alone_last_hidden(model_dir, texts):
    """Hugging Face's own last hidden state of each text's last token, each text run alone."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    out = []
    with torch.no_grad():
        for t in texts:
            ids = tok(t, return_tensors="pt")
            out.append(model(**ids).last_hidden_state[0, -1].numpy())
    return np.stack(out)


@pytest.mark.parametrize("padding_side, packing", [("right", False), ("left", False), ("right", True), ("left", True)])
def test_embed_equals_last_token_hidden_state_of_each_text_alone(tiny_llama, padding_side, packing):
    clf = EmbeddingHeadClassifier(model=tiny_llama, padding_side=padding_side, batch_size=4, packing=packing)
    emb = clf.embed(TEXTS)  # one mixed-length batch: padding on `padding_side`, or packed
    assert emb.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(emb, _alone_last_hidden(tiny_llama, TEXTS), atol=1e-4)


def test_mean_and_max_pooling_ignore_padding(tiny_llama):
    for pooling in ("mean", "max"):
        batched = EmbeddingHeadClassifier(model=tiny_llama, pooling=pooling, batch_size=4).embed(TEXTS)
        alone = np.concatenate([EmbeddingHeadClassifier(model=tiny_llama, pooling=pooling).embed([t]) for t in TEXTS])
        np.testing.assert_allclose(batched, alone, atol=1e-5)


@pytest.fixture(scope="module")
def fitted_single(tiny_llama):
    texts, labels = toy_single_label(12)
    val = toy_single_label(4, seed=1)
    clf = EmbeddingHeadClassifier(model=tiny_llama, lora={"r": 4}, training=FAST, batch_size=4)
    return clf.fit(texts, labels, validation=val), val


def test_single_label_learns_separable_toy(fitted_single):
    clf, (val_texts, val_labels) = fitted_single
    accuracy = np.mean(np.array(clf.predict(val_texts)) == np.array(val_labels))
    assert accuracy >= 0.9
    assert clf.labels_ == ["film", "money", "sport"]
    assert clf.train_result_.best_score >= 0.9


def test_predict_proba_of_mixed_batch_equals_text_by_text(fitted_single):
    clf, (val_texts, _) = fitted_single
    together = clf.predict_proba(val_texts)
    alone = np.concatenate([clf.predict_proba([t]) for t in val_texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(together.sum(axis=1), 1.0, atol=1e-6)


def test_trainable_parameters_counts_requires_grad(fitted_single):
    clf, _ = fitted_single
    expected = sum(p.numel() for p in clf.model_.parameters() if p.requires_grad)
    assert clf.trainable_parameters == expected
    # only LoRA matrices and the head train; the backbone's own weights stay frozen
    names = [n for n, p in clf.model_.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n or n.startswith("head.") for n in names)


def test_save_load_round_trip(fitted_single, tmp_path):
    clf, (val_texts, _) = fitted_single
    clf.save_pretrained(tmp_path / "m")
    assert {"causalclf.json", "head.safetensors", "adapter", "tokenizer"} <= {
        p.name for p in (tmp_path / "m").iterdir()
    }
    loaded = EmbeddingHeadClassifier.from_pretrained(tmp_path / "m")
    assert np.abs(loaded.predict_proba(val_texts) - clf.predict_proba(val_texts)).max() <= 1e-5
    assert loaded.predict(val_texts) == clf.predict(val_texts)
    assert loaded.trainable_parameters == clf.trainable_parameters


def test_logits_equal_auto_model_for_sequence_classification(fitted_single):
    """Same backbone (LoRA merged) and head weights -> same logits as transformers' own head."""
    from transformers import AutoModelForSequenceClassification

    clf, (val_texts, _) = fitted_single
    ours = clf.decision_function(val_texts)
    linear = clf.model_.head[-1]
    merged = copy.deepcopy(clf.model_.backbone).merge_and_unload()
    config = copy.deepcopy(merged.config)
    config.num_labels = 3
    seq = AutoModelForSequenceClassification.from_config(config).eval()
    seq.model.load_state_dict(merged.state_dict())
    with torch.no_grad():
        seq.score.weight.copy_(linear.weight)
        tok = clf.tokenizer_
        theirs = []
        for t in val_texts:  # one at a time: transformers finds the last token from pad ids
            theirs.append(seq(**tok(t, return_tensors="pt")).logits[0].numpy())  # the default head has no bias
    np.testing.assert_allclose(ours, np.stack(theirs), atol=1e-4)


def test_predictions_run_a_merged_copy_and_leave_the_trained_model_and_adapter_alone(fitted_single, tmp_path):
    from safetensors.torch import load_file

    clf, (val_texts, _) = fitted_single
    clf._inference_cache = None  # build the copy here, between the two saves
    clf.save_pretrained(tmp_path / "before")
    state = {n: p.detach().clone() for n, p in clf.model_.state_dict().items()}
    trainable = clf.trainable_parameters

    merged = clf.predict_proba(val_texts)
    inference = clf._inference_model()
    assert inference is not clf.model_ and inference.head is clf.model_.head
    assert not any("lora_" in n for n, _ in inference.named_parameters())  # plain Linear layers, adapters folded in
    unmerged = clf.proba_from_logits(clf._logits_of(clf.model_, val_texts))
    np.testing.assert_allclose(merged, unmerged, atol=1e-5)
    assert clf._inference_model() is inference  # built once
    np.testing.assert_allclose(clf.embed(val_texts), clf._features(clf.model_.backbone, val_texts, "x"), atol=1e-5)

    for name, value in clf.model_.state_dict().items():
        torch.testing.assert_close(value, state[name], rtol=0, atol=0)
    assert clf.trainable_parameters == trainable
    clf.save_pretrained(tmp_path / "after")
    before, after = (
        load_file(str(tmp_path / d / "adapter" / "adapter_model.safetensors")) for d in ("before", "after")
    )
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_refitting_replaces_the_inference_copy(tiny_llama):
    texts, labels = toy_single_label(6)
    clf = EmbeddingHeadClassifier(model=tiny_llama, lora={"r": 2}, training=dict(FAST, epochs=3))
    first = clf.fit(texts, labels).predict_proba(texts)
    copy_before = clf._inference_model()
    clf.set_params(training__seed=7, training__epochs=6).fit(texts, labels)
    assert clf._inference_model() is not copy_before
    refit = clf.predict_proba(texts)
    np.testing.assert_allclose(refit, clf.proba_from_logits(clf._logits_of(clf.model_, texts)), atol=1e-5)
    assert np.abs(refit - first).max() > 1e-3


def test_multi_label_learns_with_tuned_thresholds(tiny_llama):
    texts, labels = toy_multi_label(120)
    val = toy_multi_label(30, seed=2)
    clf = EmbeddingHeadClassifier(model=tiny_llama, lora={"r": 8}, training=FAST, batch_size=8)
    clf.fit(texts, labels, validation=val)
    assert clf.multi_label and clf.thresholds_.shape == (3,)
    assert not np.allclose(clf.thresholds_, 0.5)  # tuned on validation
    pred = clf.predict(val[0])
    assert all(isinstance(p, list) for p in pred)
    exact = np.mean([sorted(p) == sorted(t) for p, t in zip(pred, val[1])])
    assert exact >= 0.7
    proba = clf.predict_proba(val[0])
    assert proba.shape == (30, 3) and not np.allclose(proba.sum(1), 1.0)  # sigmoids, not a softmax


def test_frozen_backbone_trains_head_on_features_computed_once(tiny_llama, monkeypatch):
    from causalclf.methods.embedding_head import classifier as embedding_head

    texts, labels = toy_single_label(12)
    val = toy_single_label(4, seed=1)
    calls = []
    real = embedding_head.pooled_features
    monkeypatch.setattr(embedding_head, "pooled_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    clf = EmbeddingHeadClassifier(
        model=tiny_llama, lora=None, head="mlp", batch_size=64, training=dict(FAST, epochs=30, learning_rate=1e-2)
    )
    clf.fit(texts, labels, validation=val)
    assert len(calls) == 2  # one pass over train, one over validation; 30 epochs reuse them
    assert clf.trainable_parameters == sum(p.numel() for p in clf.model_.head.parameters())
    assert np.mean(np.array(clf.predict(val[0])) == np.array(val[1])) >= 0.75


def test_gradient_checkpointing_still_trains_adapters(tiny_llama):
    texts, labels = toy_single_label(4)
    clf = EmbeddingHeadClassifier(
        model=tiny_llama, lora={"r": 4}, gradient_checkpointing=True, training=dict(FAST, epochs=3)
    )  # the zero-init head passes no grad at step 1
    clf.fit(texts, labels)
    lora_b = [p for n, p in clf.model_.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b)  # LoRA B starts at zero


def test_class_weight_balanced_weights_the_loss(tiny_llama):
    texts, labels = toy_single_label(6)
    texts, labels = texts + texts[:6], labels + labels[:6]
    clf = EmbeddingHeadClassifier(model=tiny_llama, lora=None, class_weight="balanced", training=dict(FAST, epochs=1))
    clf.fit(texts, labels)
    counts = np.bincount(clf.label_space_.encode(labels))
    np.testing.assert_allclose(clf.model_.loss_weight.numpy(), len(labels) / (3 * counts), rtol=1e-6)


def test_unfitted_and_bad_input_errors(tiny_llama):
    clf = EmbeddingHeadClassifier(model=tiny_llama)
    with pytest.raises(NotFittedError, match="not fitted"):
        clf.predict(["x"])
    with pytest.raises(ValueError, match="empty"):
        clf.embed(["fine", "  "])
    with pytest.raises(ValueError, match="pooling"):
        EmbeddingHeadClassifier(model=tiny_llama, pooling="cls").embed(["x"])


def test_4bit_nf4_lora_trains_predicts_and_reloads_to_the_same_probabilities(quantizable_llama, tmp_path):
    """On CUDA as users run it; without one, bitsandbytes' CPU kernels, with the bf16 compute a GPU uses."""
    import bitsandbytes as bnb

    texts, labels = toy_single_label(6)
    dtype = "auto" if torch.cuda.is_available() else "bfloat16"
    clf = EmbeddingHeadClassifier(
        model=quantizable_llama, quantization="4bit", dtype=dtype, training=dict(FAST, epochs=2)
    )
    clf.fit(texts, labels)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in clf.model_.modules())
    assert next(clf.model_.head.parameters()).dtype == torch.float32
    proba = clf.predict_proba(texts)
    assert proba.shape == (len(texts), 3)
    # The weights bitsandbytes leaves unquantized (norms) train in fp32 (peft's prepare_model_for_kbit_training);
    # loading must cast them the same way, or the reloaded model predicts other probabilities. (`proba` comes
    # before saving: on a CPU, saving unpacks bitsandbytes' inference packing in place, lossily.)
    loaded = EmbeddingHeadClassifier.from_pretrained(clf.save_pretrained(tmp_path / "m"))
    np.testing.assert_allclose(loaded.predict_proba(texts), proba, rtol=0, atol=1e-6)


def test_a_lower_layer_reads_that_block_through_the_final_norm_and_cuts_the_rest(tiny_llama, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    texts, labels = toy_single_label(6)
    clf = EmbeddingHeadClassifier(model=tiny_llama, lora={"r": 2}, layer=1, training=dict(FAST, epochs=2))
    clf.fit(texts, labels)
    assert clf.layer_ == 1 and len(clf.model_.backbone.base_model.model.layers) == 1

    base = EmbeddingHeadClassifier(model=tiny_llama, layer=-2)  # -2 of 2 blocks is block 1
    tok = AutoTokenizer.from_pretrained(tiny_llama)
    full = AutoModel.from_pretrained(tiny_llama, dtype=torch.float32).eval()
    with torch.no_grad():
        expected = [
            full.norm(full(**tok(t, return_tensors="pt"), output_hidden_states=True).hidden_states[1])[0, -1]
            for t in TEXTS
        ]
    np.testing.assert_allclose(base.embed(TEXTS), torch.stack(expected).numpy(), atol=1e-4)

    clf.save_pretrained(tmp_path / "m")
    loaded = EmbeddingHeadClassifier.from_pretrained(tmp_path / "m")
    assert loaded.layer_ == 1
    np.testing.assert_allclose(loaded.predict_proba(texts), clf.predict_proba(texts), atol=1e-5)


def test_best_layer_trains_a_head_per_block_from_one_pass_and_keeps_the_best(tiny_llama, tmp_path, monkeypatch):
    from causalclf.methods.embedding_head import classifier as module

    texts, labels = toy_single_label(12)
    val = toy_single_label(4, seed=1)
    calls = []
    real = module.pooled_layers
    monkeypatch.setattr(module, "pooled_layers", lambda *a, **k: calls.append(1) or real(*a, **k))
    clf = EmbeddingHeadClassifier(
        model=tiny_llama, lora=None, layer="best", batch_size=64, training=dict(FAST, epochs=20, learning_rate=1e-2)
    )
    clf.fit(texts, labels, validation=val)
    assert len(calls) == 2  # one pass over train, one over validation, for every block at once
    assert sorted(clf.layer_scores_) == [1, 2]
    assert clf.layer_scores_[clf.layer_] == max(clf.layer_scores_.values())
    assert clf.train_result_.best_score == clf.layer_scores_[clf.layer_]
    assert len(clf._frozen_backbone.layers) == clf.layer_  # inference runs only the blocks it reads

    clf.save_pretrained(tmp_path / "m")
    loaded = EmbeddingHeadClassifier.from_pretrained(tmp_path / "m")
    assert loaded.layer_ == clf.layer_
    np.testing.assert_allclose(loaded.predict_proba(val[0]), clf.predict_proba(val[0]), atol=1e-5)


def test_layer_errors(tiny_llama):
    texts, labels = toy_single_label(2)
    with pytest.raises(ValueError, match="set lora=None"):
        EmbeddingHeadClassifier(model=tiny_llama, layer="best").fit(texts, labels, validation=(texts, labels))
    with pytest.raises(ValueError, match="validation data"):
        EmbeddingHeadClassifier(model=tiny_llama, lora=None, layer="best").fit(texts, labels)
    with pytest.raises(ValueError, match="out of range.*2 blocks"):
        EmbeddingHeadClassifier(model=tiny_llama, lora=None, layer=3).fit(texts, labels)


def test_a_lora_budget_picks_the_rank_whose_adapters_come_nearest_it(tiny_llama):
    from causalclf.backbones.adapters import lora_parameters
    from causalclf.backbones.loading import load_model

    per_rank = lora_parameters(load_model(tiny_llama, "AutoModel"), 1)
    texts, labels = toy_single_label(2)
    clf = EmbeddingHeadClassifier(
        model=tiny_llama, lora={"r": 8, "lora_alpha": 16}, lora_budget=3 * per_rank + 5, training=dict(FAST, epochs=1)
    )
    clf.fit(texts, labels)
    adapters = sum(p.numel() for n, p in clf.model_.named_parameters() if "lora_" in n)
    assert adapters == 3 * per_rank  # rank 3, counted from the model
    config = clf.model_.backbone.peft_config["default"]
    assert config.r == 3 and config.lora_alpha == 6  # alpha keeps its ratio to the rank
