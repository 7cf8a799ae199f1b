"""A tiny random BERT built in-process, so encoder tests train in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.toy import build_tiny_tokenizer


def build_tiny_bert(path: Path, seed: int = 0) -> Path:
    """Save a 2-layer, 32-wide random BertModel and the toy word-level tokenizer.

    Saved without a classification head, like a pretrained encoder: EncoderClassifier
    adds a fresh one. Like BERT's [CLS], a start token leads every text, for the pooler to
    read; the tokenizer has no pad token, so causalclf must add one.
    """
    import torch
    from tokenizers.processors import TemplateProcessing
    from transformers import BertConfig, BertModel

    tok = build_tiny_tokenizer()
    tok.backend_tokenizer.post_processor = TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tok.bos_token_id)]
    )
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=tok.eos_token_id,
        # BERT's 0.02 suits 768-wide layers; at width 32 it leaves the [CLS] attention so
        # flat that some seeds never find the multi-label toy's keywords in 20 epochs.
        initializer_range=0.1,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    return str(build_tiny_bert(tmp_path_factory.mktemp("tiny-bert")))


def fast_training(**overrides) -> dict:
    """Training settings that fit the toy tasks in about a second on the tiny BERT."""
    return {
        "epochs": 20,
        "learning_rate": 3e-3,
        "batch_size": 8,
        "progress_bar": False,
        "logging_steps": 1000,
        "early_stopping_patience": None,
        **overrides,
    }


@pytest.fixture
def one_thread():
    """Run torch on one thread: on a shared 2-core machine, tiny models spend most of a
    multi-threaded step waiting for the other thread (measured 12x slower under load)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
