"""The bundled GGUF model, dequantized once into an fp32 safetensors cache (a GGUF load takes tens of seconds)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

_DONE = ".causalclf-complete"


def convert_gguf(gguf_file: Path, target: Path) -> Path:
    """Dequantize a GGUF checkpoint once into an fp32 safetensors folder.

    Loading a GGUF file dequantizes every tensor (tens of seconds); the cache makes later
    loads a plain safetensors read. A file lock serialises concurrent first runs, and the
    folder is written under a temporary name and renamed into place, so a reader never
    sees a half-written cache.
    """
    import torch
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
