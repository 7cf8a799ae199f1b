"""Greedy decoding of responses for a batch of prompts, free or constrained to the label set."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from causalclf.methods.lm_answer.constrained import GrammarLogitsProcessor, LabelGrammar
from causalclf.methods.lm_answer.label_scoring import left_pad


def greedy_decode(
    model,
    prompts: Sequence[Sequence[int]],
    end_id: int,
    pad_id: int,
    max_new_tokens: int,
    grammar: LabelGrammar | None = None,
) -> list[list[int]]:
    """The tokens each prompt's greedy response holds before its end token.

    With a `grammar`, every step can only pick a token that keeps the response valid.
    """
    from transformers import GenerationConfig, LogitsProcessorList

    ids, mask = left_pad(prompts, pad_id, next(model.parameters()).device)
    processors = LogitsProcessorList()
    if grammar is not None:
        processors.append(GrammarLogitsProcessor(grammar, ids.shape[1], len(prompts)))
    # A fresh config: the checkpoint's own may ask for sampling, temperature or other stops.
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=end_id, pad_token_id=pad_id)
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config, logits_processor=processors)
    responses = []
    for row in out[:, ids.shape[1] :].tolist():
        responses.append(row[: row.index(end_id)] if end_id in row else row)
    return responses
