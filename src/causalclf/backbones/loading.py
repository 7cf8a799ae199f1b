"""Load a causal LM or encoder with its tokenizer: dtype, device, optional 4-bit/8-bit (bitsandbytes), and
prepared for training (frozen, LoRA attached through PEFT, gradient checkpointing)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

import torch

from causalclf.backbones.references import resolve_model
from causalclf.errors import ConfigError, MissingDependency


@dataclass
class BackboneOptions:
    """How to place and store the backbone."""

    dtype: str = "auto"
    """"auto" (bf16 on CUDA, fp32 on CPU), "float32", "bfloat16" or "float16"."""
    quantization: str | None = None
    """None, "4bit" (NF4, double quantization) or "8bit", through bitsandbytes."""
    device: str = "auto"
    """"auto" (CUDA when available), "cpu", "cuda" or "cuda:N"."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass to save memory."""


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    try:
        return {
            "float32": torch.float32,
            "fp32": torch.float32,
            "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16,
            "float16": torch.float16,
            "fp16": torch.float16,
        }[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16") from None


def quantization_config(quantization: str | None, compute_dtype: torch.dtype):
    if quantization is None:
        return None
    if importlib.util.find_spec("bitsandbytes") is None:
        raise MissingDependency(f"quantization={quantization!r} needs bitsandbytes: pip install 'causalclf[gpu]'")
    from transformers import BitsAndBytesConfig

    if quantization == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    raise ValueError(f"unknown quantization {quantization!r}; use null, '4bit' or '8bit'")


# --------------------------------------------------------------------------- loading
def load_tokenizer(name_or_path: str, padding_side: str = "right"):
    """The model's tokenizer with a pad token guaranteed (eos, else unk, else a new one)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(name_or_path))
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif tokenizer.unk_token is not None:
            tokenizer.pad_token = tokenizer.unk_token
        else:
            tokenizer.add_special_tokens({"pad_token": "<pad>"})
    tokenizer.padding_side = padding_side
    return tokenizer


def load_model(
    name_or_path: str, auto_class: str = "AutoModel", tokenizer=None, options: BackboneOptions | None = None, **kwargs
):
    """Load weights through a transformers Auto class with dtype, device and quantization.

    `auto_class`: "AutoModel" (a bare backbone: the LM head is never built or computed),
    "AutoModelForCausalLM" or "AutoModelForSequenceClassification". The model's config
    gets the tokenizer's pad token id when it has none.
    """
    import transformers

    options = options or BackboneOptions()
    device = pick_device(options.device)
    dtype = pick_dtype(options.dtype, device)
    quant = quantization_config(options.quantization, dtype)
    auto = getattr(transformers, auto_class)
    load_kwargs: dict[str, Any] = dict(dtype=dtype, **kwargs)
    if quant is not None:
        load_kwargs["quantization_config"] = quant
        load_kwargs["device_map"] = {"": device.index or 0} if device.type == "cuda" else {"": "cpu"}
    model = auto.from_pretrained(resolve_model(name_or_path), **load_kwargs)
    if tokenizer is not None:
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tokenizer))
        if getattr(model.config, "pad_token_id", None) is None:
            model.config.pad_token_id = tokenizer.pad_token_id
    if quant is None:
        model.to(device)
    else:
        # Training goes through peft's prepare_model_for_kbit_training, which casts the weights left
        # unquantized (norms, embeddings) to fp32; a model loaded again to predict must hold the same
        # weights, or its probabilities drift from the trained model's. It also freezes every weight:
        # adapters are attached after.
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return model


def prepare_for_training(model, lora, options: BackboneOptions):
    """Freeze the backbone, then attach LoRA (a `peft.LoraConfig`, or None) and set up gradient checkpointing.

    With a frozen embedding layer and reentrant checkpointing no activation entering a
    checkpointed block requires grad, so the adapters would silently get no gradient; we
    use non-reentrant checkpointing and make the embedding outputs require grad.
    """
    for p in model.parameters():
        p.requires_grad_(False)
    if options.quantization is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=options.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif options.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    if lora is None:
        return model
    from peft import get_peft_model

    try:
        return get_peft_model(model, lora)
    except ValueError as e:  # settings PEFT's config accepts but this architecture's modules do not
        raise ConfigError(
            f"lora: PEFT cannot adapt {type(model).__name__} with these settings: {e} (a "
            "mixture-of-experts model's fused expert weights take LoRA only with lora_dropout: 0)"
        ) from None


def count_trainable(module: torch.nn.Module) -> int:
    """Parameters that require grad (shared tensors counted once)."""
    seen, total = set(), 0
    for p in module.parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def int8_for_cpu_inference(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` whose Linear layers run as dynamic int8 on CPU (the original is untouched).

    Weights are stored in int8 and activations quantized per batch (PyTorch's dynamic
    quantization, fbgemm/x86 kernels), which roughly halves a small encoder's CPU
    inference time for a small loss of precision. LoRA adapters are merged first.
    Inference only: the copy cannot be trained, and CUDA has no kernels for it.
    """
    import copy
    import warnings

    if next(model.parameters()).device.type != "cpu":
        raise ValueError("int8 dynamic quantization runs on CPU only: load the model with device='cpu'")
    model = copy.deepcopy(model).eval()
    if hasattr(model, "merge_and_unload"):  # a PEFT model: fold the adapters into the weights
        model = model.merge_and_unload()
    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of torchao, whose int8 CPU path is no
        # faster than fp32 without torch.compile (RESULTS.md, "Distillation"), so we keep it.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
