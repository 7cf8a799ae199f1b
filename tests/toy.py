"""Toy models and tasks for tests: tiny random causal LMs and separable toy data."""

from __future__ import annotations

from pathlib import Path

# A vocabulary that covers the toy tasks' words; the tokenizer is a real HF fast
# tokenizer (word-level) so every code path sees what it sees with a hub model.
TOY_WORDS = (
    "the a an of and to in is it on for with this that was good bad great awful fine "
    "sport match goal team player win lose score football tennis race "
    "money bank market stock price trade profit loss economy shares "
    "film music actor star show movie song award band concert "
    "vote party election minister government law policy parliament "
    "computer software phone internet chip data code digital web "
    "label answer text category document none yes no cat dog red blue green"
).split()


def build_tiny_tokenizer(chat_template: bool = False):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>"]
    vocab = {tok: i for i, tok in enumerate(specials + sorted(set(TOY_WORDS)) + list(":,.;-|!?0123456789"))}
    for ch in "abcdefghijklmnopqrstuvwxyz":  # every lowercase letter, so any word encodes
        vocab.setdefault(ch, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    if chat_template:
        tok.chat_template = (
            "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}assistant:{% endif %}"
        )
    return tok


def build_tiny_llama(path: Path, chat_template: bool = False, seed: int = 0, hidden_size: int = 32) -> Path:
    """Save a 2-layer random Llama + tokenizer (no pad token: causalclf must add one)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_tiny_tokenizer(chat_template)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def toy_single_label(n_per_class: int = 12, seed: int = 0):
    """A separable toy task: each class has its own keywords."""
    import random

    rng = random.Random(seed)
    words = {
        "sport": "sport match goal team player win football tennis".split(),
        "money": "money bank market stock price trade profit shares".split(),
        "film": "film music actor star show movie song award".split(),
    }
    filler = "the a of and to in is it on for with this that".split()
    texts, labels = [], []
    for _ in range(n_per_class):
        for name, ws in words.items():
            n = rng.randint(3, 9)  # mixed lengths exercise padding
            toks = [rng.choice(ws) if rng.random() < 0.6 else rng.choice(filler) for _ in range(n)]
            toks[rng.randrange(n)] = rng.choice(ws)
            texts.append(" ".join(toks))
            labels.append(name)
    return texts, labels


def toy_multi_label(n: int = 48, seed: int = 0):
    """Separable multi-label toy: label present iff one of its keywords is in the text."""
    import random

    rng = random.Random(seed)
    words = {
        "red": "red cat".split(),
        "blue": "blue dog".split(),
        "green": "green code".split(),
    }
    filler = "the a of and to in is it on for with this that".split()
    texts, labels = [], []
    for _ in range(n):
        present = [name for name in words if rng.random() < 0.45]
        toks = [rng.choice(filler) for _ in range(rng.randint(2, 5))]
        for name in present:
            toks.insert(rng.randrange(len(toks) + 1), rng.choice(words[name]))
        texts.append(" ".join(toks))
        labels.append(sorted(present))
    return texts, labels
