"""One instruction-tuning (SFT) step with logits everywhere against logits at the response only.

The SFT collator (`causalclf.methods.lm_answer.sft.loss_positions`) asks the causal LM for
logits only at the positions whose next token is part of the response (transformers'
``logits_to_keep`` and ``shift_labels``). Before, the LM projected every prompt token onto
its 49k-word vocabulary and the loss ignored all but the few response ones. Both variants
take the same LoRA training step (forward, backward, AdamW at learning rate 0) on the same batches of real
prompts, interleaved, `--repeats` times; reported: the median seconds per step, their ratio,
and the largest loss difference between the two (it must be float noise: the loss is the
same quantity).

    python bench/sft_step.py                  # bbc-news (bundled), batch 8, 64 document tokens
    CAUSALCLF_SHARED_DATA=../shared/data python bench/sft_step.py --data uspto --max-length 128

Writes bench/results/sft_step_<data>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from baselines_bbc import RESULTS, environment


def main() -> None:
    import torch

    from causalclf import InstructionClassifier
    from causalclf.backbones.loading import prepare_for_training
    from causalclf.data import load_dataset
    from causalclf.methods.lm_answer.sft import sft_collator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="bbc-news", help="a named dataset (default: bbc-news)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--max-length", type=int, default=64, help="document tokens in each prompt")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=6, help="steps per variant, interleaved")
    args = parser.parse_args()

    train = load_dataset(args.data)["train"]
    clf = InstructionClassifier(model=args.model, max_length=args.max_length)
    y = clf._init_labels(train.labels)
    clf._load_tokenizer()
    rows = clf._sft_rows(train.texts, y)
    collate = sft_collator(clf.tokenizer_)
    step = len(rows) // (args.repeats * args.batch_size)  # batches spread over the split
    batches = [collate(rows[i * step * args.batch_size :][: args.batch_size]) for i in range(args.repeats)]

    torch.manual_seed(0)
    lm = clf._load()
    lm = prepare_for_training(lm, clf._lora_config(lm, task_type="CAUSAL_LM"), clf._options())
    lm.train()
    # lr 0: a step costs what a real one does and leaves the weights alone, so both variants
    # see the same weights and their losses must agree.
    optimizer = torch.optim.AdamW([p for p in lm.parameters() if p.requires_grad], lr=0.0)
    variants = {
        "all_logits": lambda b: {k: b[k] for k in ("input_ids", "attention_mask", "labels")},
        "response_logits": lambda b: b,
    }

    def timed(inputs: dict) -> tuple[float, float]:
        start = time.perf_counter()
        loss = lm(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return time.perf_counter() - start, loss.item()

    for pick in variants.values():  # warm-up
        timed(pick(batches[0]))
    seconds = {name: [] for name in variants}
    losses = {name: [] for name in variants}
    for i, batch in enumerate(batches):
        for name, pick in variants.items():
            torch.manual_seed(i)  # the same LoRA dropout masks for both
            s, loss = timed(pick(batch))
            seconds[name].append(s)
            losses[name].append(loss)
    median = {name: statistics.median(v) for name, v in seconds.items()}
    result = {
        "data": args.data,
        "model": args.model,
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "tokens_per_batch": [int(b["attention_mask"].sum()) for b in batches],
        "response_tokens_per_batch": [int((b["shift_labels"] != -100).sum()) for b in batches],
        "seconds_per_step": seconds,
        "median_seconds_per_step": median,
        "speedup_median": median["all_logits"] / median["response_logits"],
        "max_loss_difference": max(abs(a - b) for a, b in zip(losses["all_logits"], losses["response_logits"])),
        "environment": environment(),
    }
    out = RESULTS / f"sft_step_{args.data}.json"
    out.write_text(json.dumps(result, indent=2))
    print(
        json.dumps(
            {k: result[k] for k in ("median_seconds_per_step", "speedup_median", "max_loss_difference")}, indent=2
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
