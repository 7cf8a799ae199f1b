"""Tiny random instances of the decoder families users bring, built from `transformers` configs (nothing is
downloaded), each with the same word-level toy tokenizer.

`FAMILIES` is the architecture matrix of `tests/methods/test_architectures.py`; the README's list of
tested families is generated from it (`families_markdown`).
"""

from __future__ import annotations

from pathlib import Path

HIDDEN = 32
LAYERS = 2
COMMON = {"num_hidden_layers": LAYERS, "num_attention_heads": 4, "max_position_embeddings": 256}
ROTARY = {**COMMON, "hidden_size": HIDDEN, "intermediate_size": 2 * HIDDEN, "num_key_value_heads": 2}
MOE = {
    "num_experts": 4,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": HIDDEN,
    "shared_expert_intermediate_size": HIDDEN,
}

FAMILIES: dict[str, dict] = {
    "llama": ROTARY,
    "mistral": {**ROTARY, "sliding_window": None},
    "qwen2": ROTARY,
    "qwen3": {**ROTARY, "head_dim": 8},
    "qwen2_moe": {**ROTARY, **MOE},
    "mixtral": {**ROTARY, "num_local_experts": 4, "num_experts_per_tok": 2},
    "gemma": {**ROTARY, "head_dim": 8},
    "gemma2": {**ROTARY, "head_dim": 8},
    "gemma3_text": {**ROTARY, "head_dim": 8},
    "phi3": {**ROTARY, "pad_token_id": 0},
    "olmo2": ROTARY,
    "granite": ROTARY,
    "gpt_neox": {**COMMON, "hidden_size": HIDDEN, "intermediate_size": 2 * HIDDEN},
    "gpt2": {"n_layer": LAYERS, "n_head": 4, "n_embd": HIDDEN, "n_positions": 256},
    "falcon": {**COMMON, "hidden_size": HIDDEN, "new_decoder_architecture": False},
    "opt": {**COMMON, "hidden_size": HIDDEN, "ffn_dim": 2 * HIDDEN, "word_embed_proj_dim": HIDDEN},
}
"""model_type -> the config's keys that make it tiny (2 blocks, 32 wide)."""

LORA = {"mixtral": {"lora_dropout": 0.0}}
"""LoRA settings a family needs over causalclf's defaults: PEFT adapts Mixtral's fused expert weights only
without dropout (and says so, which causalclf passes on before any training)."""


def build_tiny(model_type: str, path: Path, seed: int = 0) -> Path:
    """Save a tiny random causal LM of `model_type` with the toy tokenizer (no pad token) into `path`."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from tests.toy import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    config = AutoConfig.for_model(
        model_type,
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=True,
        **{"pad_token_id": None, **FAMILIES[model_type]},
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def families_markdown() -> str:
    """The README's sentence listing the families the matrix tests."""
    return "Tested on tiny random instances of: " + ", ".join(f"`{name}`" for name in sorted(FAMILIES)) + "."
