"""Padding-free inference batches: several texts share a row, and each attends only to itself.

A padded batch of texts of different lengths spends compute on padding: a random batch of 8
AG News texts carries 1.41x the tokens it needs, which is what a server's arrival-ordered
batches look like. `pack` concatenates the texts of a batch into rows as wide as its longest
text (first fit, longest first), with position ids that restart at 0 for each text. Given
position ids and no attention mask, transformers' decoders build a block-diagonal causal mask
from the restarts (`masking_utils.find_packed_sequence_indices`; only without a KV cache, hence
``use_cache=False``), so each text gets the hidden states it has alone. `unpacked` gathers
them back to (texts, tokens, dim) under a per-text attention mask, so pooling is unchanged.

A packed row is no wider than the padded batch would be, so it costs what one padded row costs
(attention included, which is quadratic in the row) and packing only removes rows. Wider rows
would hold more texts, but each token would attend over (masked) neighbours: on a CPU that
made sorted batches of similar lengths slower than padding them. Where no two texts of a batch
fit one row, `pack_or_pad` pads: the same tokens, and the plain causal mask.

A backbone that does not read packed position ids that way (custom code, an older
architecture) would mix texts silently, so `packs_correctly` checks each backbone once on two
probe texts against padded inference before packing is used with it.

A right-padded batch needs no attention mask at all in a causal decoder: a real token attends
only to the tokens before it, which are all real, so the padding changes nothing but the pads'
own states, which nothing reads. Without a mask, torch's attention kernel takes its causal path
and skips the blocks above the diagonal; with one it computes them all (on a CPU, 6% of a
32 x 256 forward of smollm2-135m). `unmasked_correctly` checks that on the probe texts, once
per backbone, and `backbone_inputs` then drops the mask of right-padded batches.
"""
from __future__ import annotations

import logging
import weakref
from functools import partial
from typing import Callable, Sequence

import torch
from torch import nn

from causalclf.methods.batching import collate

log = logging.getLogger(__name__)

PROBE_TEXTS = ("A short probe.", "A second probe text, a few tokens longer than the first one.")
_CHECKED: "weakref.WeakKeyDictionary[nn.Module, bool]" = weakref.WeakKeyDictionary()
_UNMASKED: "weakref.WeakKeyDictionary[nn.Module, bool]" = weakref.WeakKeyDictionary()


def first_fit(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Texts (by position) grouped into rows of at most `capacity` tokens: longest first, each into the
    first row with room."""
    members: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        row = next((r for r, free in enumerate(room) if free >= lengths[i]), None)
        if row is None:
            members.append([])
            room.append(capacity)
            row = len(members) - 1
        members[row].append(i)
        room[row] -= lengths[i]
    return members


def pack(rows: list[dict], pad_id: int, capacity: int | None = None) -> dict:
    """Encoded rows (``input_ids`` lists) -> a packed batch, its rows `capacity` tokens wide at most
    (default: the longest text's length, so a row costs what one padded row costs, and packing only
    removes rows).

    Returns ``input_ids`` and ``position_ids`` (packed rows), ``token_index`` (texts, longest text):
    where each text's tokens sit in the flattened rows, and ``attention_mask`` (texts, longest
    text): which of those are real.
    """
    lengths = [len(r["input_ids"]) for r in rows]
    return _packed(rows, lengths, first_fit(lengths, max(capacity or 0, *lengths)), pad_id)


def pack_or_pad(rows: list[dict], pad_id: int, padded: Callable[[list[dict]], dict]) -> dict:
    """`pack(rows)` when two texts or more share a row; else the padded batch `padded(rows)`, which then
    holds the same tokens (longest-first batches of similar lengths usually do)."""
    lengths = [len(r["input_ids"]) for r in rows]
    members = first_fit(lengths, max(lengths))
    return padded(rows) if len(members) == len(rows) else _packed(rows, lengths, members, pad_id)


def _packed(rows: list[dict], lengths: list[int], members: list[list[int]], pad_id: int) -> dict:
    """The tensors of `pack` for texts laid out in rows as `first_fit` grouped them."""
    width = max(sum(lengths[i] for i in texts) for texts in members)
    input_ids = torch.full((len(members), width), pad_id, dtype=torch.long)
    position_ids = torch.zeros((len(members), width), dtype=torch.long)
    token_index = torch.zeros((len(rows), max(lengths)), dtype=torch.long)
    attention_mask = torch.zeros((len(rows), max(lengths)), dtype=torch.long)
    for r, texts in enumerate(members):
        start = 0
        for i in texts:
            n = lengths[i]
            input_ids[r, start:start + n] = torch.as_tensor(rows[i]["input_ids"])
            position_ids[r, start:start + n] = torch.arange(n)
            token_index[i, :n] = r * width + start + torch.arange(n)
            attention_mask[i, :n] = 1
            start += n
        position_ids[r, start:] = torch.arange(width - start)  # the row's padding: a segment of its own
    return {"input_ids": input_ids, "position_ids": position_ids, "token_index": token_index,
            "attention_mask": attention_mask}


def backbone_inputs(batch: dict, backbone: nn.Module | None = None) -> dict:
    """The backbone's keyword arguments for a padded or a packed batch (no KV cache either way:
    inference reads each text once, and a cache would turn off the packed mask). A right-padded
    batch goes without its mask to a `backbone` in eval mode that `unmasked_correctly` passed; training
    keeps the mask, so its numbers never depend on whether a probe ran before."""
    if "token_index" in batch:
        return {"input_ids": batch["input_ids"], "position_ids": batch["position_ids"], "use_cache": False}
    mask = batch["attention_mask"]
    if backbone is not None and not backbone.training and _UNMASKED.get(backbone, False) \
            and bool((mask[:, :-1] >= mask[:, 1:]).all()):
        return {"input_ids": batch["input_ids"], "use_cache": False}
    return {"input_ids": batch["input_ids"], "attention_mask": mask, "use_cache": False}


def unpacked(hidden: torch.Tensor, batch: dict) -> torch.Tensor:
    """(rows, width, dim) hidden states -> (texts, tokens, dim), read with ``batch["attention_mask"]``."""
    if "token_index" not in batch:
        return hidden
    return hidden.flatten(0, 1)[batch["token_index"]]


def _same_states(backbone: nn.Module, tokenizer, inputs: Callable[[dict], dict], variant: Callable[[list], dict],
                 what: str) -> bool:
    """Whether the probe texts' real tokens get the same hidden states from `variant(rows)` (run with `inputs`)
    as from the padded batch with its mask."""
    rows = [{"input_ids": ids, "attention_mask": [1] * len(ids)} for ids in tokenizer(list(PROBE_TEXTS))["input_ids"]]
    device = next(backbone.parameters()).device
    try:
        with torch.no_grad():
            states = []
            for batch, to_inputs in ((collate(tokenizer, rows), backbone_inputs), (variant(rows), inputs)):
                batch = {k: v.to(device) for k, v in batch.items()}
                hidden = unpacked(backbone(**to_inputs(batch)).last_hidden_state, batch).float()
                states.append(hidden[batch["attention_mask"].bool()])  # the real tokens, whatever the padding side
        scale = states[0].abs().max().item()
        # fp32 agrees to ~1e-6 of the scale; a text that sees its neighbour or its padding is off by O(scale)
        tolerance = 1e-3 if next(backbone.parameters()).dtype == torch.float32 else 5e-2
        return (states[0] - states[1]).abs().max().item() <= tolerance * max(scale, 1.0)
    except Exception as error:  # a backbone that refuses position_ids, use_cache or a missing mask
        log.debug("%s probe failed: %s", what, error)
        return False


def packs_correctly(backbone: nn.Module, tokenizer) -> bool:
    """Whether `backbone` gives packed texts the hidden states they get padded (checked once per module)."""
    if backbone not in _CHECKED:
        def one_row(rows: list) -> dict:
            return pack(rows, tokenizer.pad_token_id, capacity=sum(len(r["input_ids"]) for r in rows))

        _CHECKED[backbone] = _same_states(backbone, tokenizer, backbone_inputs, one_row, "packing")
        if not _CHECKED[backbone]:
            log.warning("%s does not keep packed texts apart (its hidden states differ from padded inference); "
                        "inference pads instead", type(backbone).__name__)
    return _CHECKED[backbone]


def unmasked_correctly(backbone: nn.Module, tokenizer) -> bool:
    """Whether `backbone` gives the real tokens of a right-padded batch the same hidden states without its
    attention mask (a causal decoder does; checked once per module). Where it does, `backbone_inputs(batch,
    backbone)` leaves the mask out."""
    if backbone not in _UNMASKED:
        _UNMASKED[backbone] = tokenizer.padding_side == "right" and _same_states(
            backbone, tokenizer, lambda batch: {"input_ids": batch["input_ids"], "use_cache": False},
            partial(collate, tokenizer), "unmasked padding")
    return _UNMASKED[backbone]
