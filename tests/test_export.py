"""causalclf export: standard Hugging Face checkpoints that transformers loads and that predict like causalclf.

Every parity check runs the exported folder through transformers itself
(`AutoModelForSequenceClassification.from_pretrained` and `pipeline("text-classification")`),
on texts of mixed lengths in one padded batch and one by one, including texts that end in
the token the tokenizer pads with (eos).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from causalclf import EmbeddingHeadClassifier, EncoderClassifier, InstructionClassifier, TfidfClassifier
from causalclf.cli import main
from causalclf.export import EXPORT_PAD, PROMPT_FILE, ExportError, export
from tests.methods._encoders import fast_training, one_thread, tiny_bert  # noqa: F401  (fixtures)
from tests.toy import toy_multi_label, toy_single_label

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = dict(
    epochs=6, batch_size=8, learning_rate=5e-3, progress_bar=False, logging_steps=1000, early_stopping_patience=None
)
SINGLE = [
    "the match",
    "money and bank market with the stock price today",
    "film </s>",
    "film",
    "a vote on the law </s>",
]
MULTI = ["red cat", "the blue dog and the green code </s>", "a", "green </s>"]


def _automodel_proba(out, texts, multi_label: bool) -> np.ndarray:
    """transformers' own model on one padded batch, through the exported tokenizer."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    with torch.no_grad():
        logits = model(**tokenizer(texts, padding=True, truncation=True, return_tensors="pt")).logits.double()
    return (torch.sigmoid(logits) if multi_label else torch.softmax(logits, -1)).numpy()


def _pipeline_proba(out, texts, labels, batch_size: int) -> np.ndarray:
    """`pipeline("text-classification", top_k=None)` scores (it picks softmax or sigmoid from the config);
    truncation=True cuts at the tokenizer's model_max_length, which the export sets to max_length."""
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(out), top_k=None, batch_size=batch_size)
    rows = pipe(texts, truncation=True)
    return np.array([[{r["label"]: r["score"] for r in row}[name] for name in labels] for row in rows])


def _assert_transformers_agree(clf, out, texts):
    ours = clf.predict_proba(texts)
    np.testing.assert_allclose(_automodel_proba(out, texts, clf.multi_label), ours, atol=1e-4)
    for batch_size in (1, len(texts)):  # each text alone, and all in one padded batch
        np.testing.assert_allclose(_pipeline_proba(out, texts, clf.labels_, batch_size), ours, atol=1e-4)


@pytest.fixture(scope="module")
def single_head(tiny_llama):
    clf = EmbeddingHeadClassifier(model=tiny_llama, lora={"r": 4}, training=FAST, batch_size=4)
    clf.fit(*toy_single_label(8))
    clf.temperature_ = np.asarray(1.7)  # what `calibrate` sets: one temperature for single-label
    return clf


@pytest.fixture(scope="module")
def multi_head(tiny_llama):
    clf = EmbeddingHeadClassifier(model=tiny_llama, lora={"r": 4}, training=FAST, batch_size=4)
    clf.fit(*toy_multi_label(40), validation=toy_multi_label(20, seed=3))
    clf.temperature_ = np.array([0.6, 1.5, 2.5])  # one per class for multi-label
    return clf


def test_single_label_head_exports_a_llama_for_sequence_classification_that_predicts_alike(single_head, tmp_path):
    from safetensors import safe_open

    out = export(single_head, tmp_path / "out")
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["LlamaForSequenceClassification"]
    assert config["problem_type"] == "single_label_classification" and "causalclf_thresholds" not in config
    assert config["id2label"] == {"0": "film", "1": "money", "2": "sport"}
    assert config["label2id"] == {"film": 0, "money": 1, "sport": 2}
    # the inference copy attends per text on a CPU (causalclf.runtime.packing); another process would not
    # know that implementation, so the checkpoint must not name it
    assert single_head._inference_model().backbone.config._attn_implementation == "causalclf_segments"
    assert "causalclf_segments" not in (out / "config.json").read_text()
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert f.get_tensor("score.weight").shape == (3, 32)
    _assert_transformers_agree(single_head, out, SINGLE)


def test_a_text_ending_in_the_pad_token_is_read_at_that_token(single_head, tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = single_head.tokenizer_
    ends_in_pad = tokenizer("film </s>")["input_ids"]
    assert ends_in_pad[-1] == tokenizer.pad_token_id == tokenizer.eos_token_id
    # causalclf reads the eos itself: the text predicts differently from "film"
    alone = single_head.predict_proba(["film </s>", "film"])
    assert np.abs(alone[0] - alone[1]).max() > 1e-3

    out = export(single_head, tmp_path / "out")
    exported = AutoTokenizer.from_pretrained(out)
    config = AutoConfig.from_pretrained(out)
    # a pad token of its own, one past the tokenizer's ids, padded on the right: the head reads the eos itself
    assert exported.padding_side == "right" and exported.pad_token == EXPORT_PAD
    assert exported.pad_token_id == config.pad_token_id == max(tokenizer.get_vocab().values()) + 1
    assert config.pad_token_id == config.vocab_size - 1
    _assert_transformers_agree(single_head, out, ["film </s>"])  # alone: no padding at all
    _assert_transformers_agree(single_head, out, ["film </s>", "money and bank market with the stock price </s>"])


def test_multi_label_head_exports_sigmoid_scores_per_class_temperatures_and_thresholds(multi_head, tmp_path):
    out = export(multi_head, tmp_path / "out")
    config = json.loads((out / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert config["causalclf_thresholds"] == dict(zip(multi_head.labels_, multi_head.thresholds_.tolist()))
    _assert_transformers_agree(multi_head, out, MULTI)


def test_a_frozen_head_on_a_lower_block_exports_only_the_blocks_it_reads(tiny_llama, tmp_path):
    from transformers import AutoConfig

    clf = EmbeddingHeadClassifier(model=tiny_llama, lora=None, layer=1, training=dict(FAST, learning_rate=1e-2))
    clf.fit(*toy_single_label(8))
    out = export(clf, tmp_path / "out")
    assert AutoConfig.from_pretrained(out).num_hidden_layers == 1
    _assert_transformers_agree(clf, out, SINGLE)


@pytest.mark.parametrize(
    "params, reason",
    [
        ({"head": "mlp"}, "head='mlp'"),
        ({"head_bias": True}, "head_bias=true"),
        ({"pooling": "mean"}, "pooling='mean'"),
    ],
)
def test_heads_that_are_not_a_bias_free_score_layer_are_refused(tiny_llama, tmp_path, params, reason):
    clf = EmbeddingHeadClassifier(model=tiny_llama, lora=None, training=dict(FAST, epochs=1), **params)
    clf.fit(*toy_single_label(2))
    with pytest.raises(ExportError, match=f"{reason}.*Retrain with head: linear, head_bias: false and pooling: last"):
        export(clf, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_lora_encoder_exports_merged_with_its_temperature(tiny_bert, tmp_path):
    clf = EncoderClassifier(model=tiny_bert, lora={"r": 4, "lora_alpha": 8}, training=fast_training(epochs=3))
    clf.fit(*toy_single_label(8))
    clf.temperature_ = np.asarray(0.7)
    out = export(clf, tmp_path / "out")
    assert json.loads((out / "config.json").read_text())["architectures"] == ["BertForSequenceClassification"]
    _assert_transformers_agree(clf, out, ["the match goal", "money bank and the market", "film"])


def test_instruction_exports_the_merged_lm_and_its_prompt(tiny_llama_chat, tmp_path):
    from transformers import AutoModelForCausalLM

    clf = InstructionClassifier(model=tiny_llama_chat, training=dict(FAST, epochs=2)).fit(*toy_single_label(3))
    out = export(clf, tmp_path / "out")
    spec = json.loads((out / PROMPT_FILE).read_text())
    assert spec["labels"] == clf.labels_ and spec["verbalizer"] == {n: n for n in clf.labels_}
    assert "not a classification head" in spec["note"]
    assert spec["example_prompt"].replace("{text}", "the match") == clf.labeler_.prompt.render("the match")

    lm = AutoModelForCausalLM.from_pretrained(out).eval()
    ids = torch.tensor([clf.labeler_.prompt.encode("the match")])
    with torch.no_grad():
        adapted, exported = clf.lm_.eval()(ids).logits, lm(ids).logits
        with clf.lm_.disable_adapter():
            base = clf.lm_(ids).logits
    assert (adapted - base).abs().max() > 1e-4  # the adapters matter, and the export holds them
    torch.testing.assert_close(exported, adapted, atol=1e-5, rtol=0)


def test_refusals_come_before_any_work(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(ExportError, match="not an empty folder"):
        export(tmp_path / "no-such-model", tmp_path / "full")  # OUT is checked before the model is read
    texts, labels = toy_single_label(3)
    with pytest.raises(ExportError, match="'tfidf' classifier has no weights to export"):
        export(TfidfClassifier().fit(texts, labels), tmp_path / "out")


def test_export_verb(single_head, tmp_path, capsys):
    single_head.save_pretrained(tmp_path / "model")
    (tmp_path / "empty").mkdir()
    assert main(["export", str(tmp_path / "model"), str(tmp_path / "empty")]) == 0
    assert "exported" in capsys.readouterr().out
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in (tmp_path / "empty").iterdir()}
    _assert_transformers_agree(single_head, tmp_path / "empty", SINGLE[:2])
    assert main(["export", str(tmp_path / "model"), str(tmp_path / "empty")]) == 2
    assert "not an empty folder" in capsys.readouterr().err


@pytest.mark.slow
def test_real_smollm2_head_exports_with_parity(tmp_path):
    """The bundled smollm2-135m (pad == eos == <|im_end|>), after two LoRA steps."""
    from causalclf.data import load_dataset

    train = load_dataset("bbc-news")["train"]
    picked = list(range(0, len(train.texts), len(train.texts) // 10))[:10]
    clf = EmbeddingHeadClassifier(
        model="smollm2-135m",
        max_length=48,
        batch_size=8,
        training={"epochs": 1, "max_steps": 2, "batch_size": 4, "progress_bar": False},
    )
    clf.fit([train.texts[i] for i in picked], [train.labels[i] for i in picked])
    clf.temperature_ = np.asarray(1.3)
    out = export(clf, tmp_path / "out")
    texts = [train.texts[1], "Shares rose sharply.", "The match ended late.<|im_end|>", "Film awards"]
    assert len(clf.tokenizer_(texts[0])["input_ids"]) > clf.max_length  # cut where causalclf cuts it
    assert clf.tokenizer_(texts[2])["input_ids"][-1] == clf.tokenizer_.pad_token_id
    _assert_transformers_agree(clf, out, texts)
