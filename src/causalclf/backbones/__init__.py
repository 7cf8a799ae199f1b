"""Backbones: which model a name means, loading it, and its LoRA adapters.

- `references.py`: the bundled registry and the check that a name loads offline (light: no torch);
- `gguf.py`: the bundled GGUF model's one-time conversion;
- `loading.py`: model and tokenizer, dtype, device, quantization, prepared for training;
- `lora.py`: causalclf's LoRA defaults and their check (light); `adapters.py`: the PEFT config for a model.
"""
