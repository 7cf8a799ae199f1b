"""Save a randomly initialised backbone with a real model's architecture and tokenizer.

For speed measurements on a machine the trained weights cannot reach: the lent GPU machine
has no hub access and takes 64 MiB of files per call, while smollm2-135m's weights are 98 MB
even as the bundled Q4 GGUF. Throughput, memory and FLOP/s depend on the shapes, not on the
values, so a random model of the same shapes times the same; its accuracy means nothing.

SOURCE is a folder holding a ``config.json`` and the tokenizer's files (the weights may be
missing), or a model causalclf resolves (``smollm2-135m``). ``--shape llama-3.2-1b`` keeps the
source's tokenizer and vocabulary but takes Llama-3.2-1B's block sizes (2048 wide, 16 blocks,
8192 MLP, 32 query and 8 key/value heads), for a backbone of about 1.2B parameters.

    python bench/random_backbone.py smollm2-135m /tmp/smollm2-random
    python bench/random_backbone.py smollm2-135m /tmp/llama-1b-random --shape llama-3.2-1b
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SHAPES = {
    "as-is": {},
    "llama-3.2-1b": {
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 64,
    },
}


def main() -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="a folder with config.json and the tokenizer, or a model causalclf resolves")
    parser.add_argument("out", help="the folder to write")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="as-is")
    parser.add_argument(
        "--dtype",
        choices=["float32", "bfloat16"],
        default="bfloat16",
        help="dtype of the saved weights (causalclf casts them as its dtype option says)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    source = args.source
    if not (Path(source) / "config.json").is_file():
        from causalclf.backbones.references import resolve_model

        source = resolve_model(source)
    config = AutoConfig.from_pretrained(source)
    config.update(SHAPES[args.shape])
    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, args.dtype))
    model.save_pretrained(args.out)
    AutoTokenizer.from_pretrained(source).save_pretrained(args.out)
    parameters = sum(p.numel() for p in model.parameters())
    info = {
        "source": args.source,
        "shape": args.shape,
        "parameters": parameters,
        "dtype": args.dtype,
        "seed": args.seed,
        "weights": "random (speed measurements only)",
    }
    (Path(args.out) / "random_backbone.json").write_text(json.dumps(info, indent=2))
    print(json.dumps(info))


if __name__ == "__main__":
    main()
