"""Padding-free inference batches: several texts share a row, and each attends only to itself.

A padded batch of texts of different lengths spends compute on padding, and a server's arrival-ordered batches
mix lengths (RESULTS.md, "Serving"). `pack` concatenates the texts of a batch into rows as wide as its longest
text (first fit, longest first), with position ids that restart at 0 for each text. Given position ids and no
attention mask, transformers' decoders build a block-diagonal causal mask from the restarts
(`masking_utils.find_packed_sequence_indices`; only without a KV cache, hence
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

On a CPU the inference copy goes further (`attend_per_text`): its attention runs each text of
a row on its own (`segment_attention`, torch's causal kernel per text), so a row costs only its
real tokens and no (row x row) mask, and `packed_collate` lays each batch out as one row with no
padding at all; the gain is largest on batches of mixed lengths, and the probabilities are
those of padded batches (bench/batch_gain.py measures both).

A right-padded batch needs no attention mask at all in a causal decoder: a real token attends only to the
tokens before it, which are all real, so the padding changes nothing but the pads' own states, which nothing
reads. Without a mask, torch's attention kernel takes its causal path and skips the blocks above the diagonal;
with one it computes them all. `unmasked_correctly` checks that on the probe texts, once per backbone, and
`backbone_inputs` then drops the mask of right-padded batches.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Sequence
from functools import partial
from itertools import groupby

import torch
from torch import nn

from causalclf.runtime.batching import collate

log = logging.getLogger(__name__)

PROBE_TEXTS = ("A short probe.", "A second probe text, a few tokens longer than the first one.")
_CHECKED: weakref.WeakKeyDictionary[nn.Module, bool] = weakref.WeakKeyDictionary()
_UNMASKED: weakref.WeakKeyDictionary[nn.Module, bool] = weakref.WeakKeyDictionary()


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


def one_row(rows: list[dict], pad_id: int) -> dict:
    """`pack(rows)` with every text in one row, end to end: no padding at all."""
    return pack(rows, pad_id, capacity=sum(len(r["input_ids"]) for r in rows))


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
            input_ids[r, start : start + n] = torch.as_tensor(rows[i]["input_ids"])
            position_ids[r, start : start + n] = torch.arange(n)
            token_index[i, :n] = r * width + start + torch.arange(n)
            attention_mask[i, :n] = 1
            start += n
        position_ids[r, start:] = torch.arange(width - start)  # the row's padding: a segment of its own
    return {
        "input_ids": input_ids,
        "position_ids": position_ids,
        "token_index": token_index,
        "attention_mask": attention_mask,
    }


def backbone_inputs(batch: dict, backbone: nn.Module | None = None) -> dict:
    """The backbone's keyword arguments for a padded or a packed batch (no KV cache either way:
    inference reads each text once, and a cache would turn off the packed mask). A right-padded
    batch goes without its mask to a `backbone` in eval mode that `unmasked_correctly` passed; training
    keeps the mask, so its numbers never depend on whether a probe ran before."""
    if "token_index" in batch:
        return {"input_ids": batch["input_ids"], "position_ids": batch["position_ids"], "use_cache": False}
    mask = batch["attention_mask"]
    if (
        backbone is not None
        and not backbone.training
        and _UNMASKED.get(backbone, False)
        and bool((mask[:, :-1] >= mask[:, 1:]).all())
    ):
        return {"input_ids": batch["input_ids"], "use_cache": False}
    return {"input_ids": batch["input_ids"], "attention_mask": mask, "use_cache": False}


def unpacked(hidden: torch.Tensor, batch: dict) -> torch.Tensor:
    """(rows, width, dim) hidden states -> (texts, tokens, dim), read with ``batch["attention_mask"]``."""
    if "token_index" not in batch:
        return hidden
    return hidden.flatten(0, 1)[batch["token_index"]]


SEGMENTS = "causalclf_segments"
"""The attention implementation `attend_per_text` gives an inference copy (registered with transformers)."""


def segment_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    position_ids: torch.Tensor | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """transformers' SDPA attention, except on one unmasked row of texts laid end to end: there each text
    (a run of position ids counting up by one, as transformers reads packed rows) attends causally to
    itself alone, and the row needs no (row x row) mask. Neighbouring texts of one length (`pack` lays
    texts out longest first) go to the kernel together, as a batch viewed in place, so a row of texts
    that all fill `max_length` costs what the padded batch would."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    width = query.shape[2]
    if (
        attention_mask is None
        and position_ids is not None
        and query.shape[0] == 1
        and width == key.shape[2] == position_ids.shape[-1] > 1
    ):
        positions = position_ids.reshape(-1)
        starts = [0, *((positions[1:] != positions[:-1] + 1).nonzero().flatten() + 1).tolist()]
        if len(starts) > 1:
            bounds = [*starts, width]
            gqa = query.shape[1] != key.shape[1]
            outputs, start = [], 0
            for length, same in groupby(b - a for a, b in zip(bounds, bounds[1:])):
                n = sum(1 for _ in same)
                # (1, heads, row, dim) -> the n texts as a batch, (n, heads, length, dim), without a copy
                q, k, v = (
                    x[0, :, start : start + n * length].unflatten(1, (n, length)).transpose(0, 1)
                    for x in (query, key, value)
                )
                out = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scaling, enable_gqa=gqa)
                outputs.append(out.transpose(1, 2).flatten(0, 1))  # (n * length, heads, dim)
                start += n * length
            return torch.cat(outputs)[None], None
    return sdpa_attention_forward(
        module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, position_ids=position_ids, **kwargs
    )


def segment_mask(**kwargs):
    """transformers' SDPA mask, except none for one unmasked row without a cache: `segment_attention`
    finds the texts of such a row in its position ids."""
    from transformers.masking_utils import sdpa_mask

    unmasked_row = kwargs["batch_size"] == 1 and kwargs.get("attention_mask") is None
    if (
        unmasked_row
        and kwargs.get("q_offset", 0) == 0
        and kwargs.get("kv_offset", 0) == 0
        and kwargs["q_length"] == kwargs["kv_length"]
    ):
        return None
    return sdpa_mask(**kwargs)


def attend_per_text(backbone: nn.Module) -> nn.Module:
    """`backbone` with `segment_attention` in place of SDPA, in place, when it runs SDPA on a CPU (meant for an
    inference copy only). On a GPU one kernel launch per text could cost more than the padding it saves,
    so GPU backbones keep their attention. `packs_correctly` still checks the result
    against padded inference before any batch is packed."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    config = getattr(backbone, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa" or next(backbone.parameters()).device.type != "cpu":
        return backbone
    AttentionInterface.register(SEGMENTS, segment_attention)
    AttentionMaskInterface.register(SEGMENTS, segment_mask)
    try:
        backbone.set_attn_implementation(SEGMENTS)
    except Exception as error:  # an architecture that cannot switch keeps SDPA
        log.debug("%s keeps SDPA: %s", type(backbone).__name__, error)
    return backbone


def packed_collate(
    backbone: nn.Module, tokenizer, padded: Callable[[list[dict]], dict]
) -> Callable[[list[dict]], dict]:
    """How to lay out inference batches for `backbone`: one row per batch where it attends per text
    (`attend_per_text`), else rows as wide as the longest text (`pack_or_pad`); `padded` where it does not
    keep packed texts apart (`packs_correctly`)."""
    if not packs_correctly(backbone, tokenizer):
        return padded
    if getattr(getattr(backbone, "config", None), "_attn_implementation", None) == SEGMENTS:
        return partial(one_row, pad_id=tokenizer.pad_token_id)
    return partial(pack_or_pad, pad_id=tokenizer.pad_token_id, padded=padded)


def _same_states(
    backbone: nn.Module, tokenizer, inputs: Callable[[dict], dict], variant: Callable[[list], dict], what: str
) -> bool:
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
        _CHECKED[backbone] = _same_states(
            backbone, tokenizer, backbone_inputs, partial(one_row, pad_id=tokenizer.pad_token_id), "packing"
        )
        if not _CHECKED[backbone]:
            log.warning(
                "%s does not keep packed texts apart (its hidden states differ from padded inference); "
                "inference pads instead",
                type(backbone).__name__,
            )
    return _CHECKED[backbone]


def unmasked_correctly(backbone: nn.Module, tokenizer) -> bool:
    """Whether `backbone` gives the real tokens of a right-padded batch the same hidden states without its
    attention mask (a causal decoder does; checked once per module). Where it does, `backbone_inputs(batch,
    backbone)` leaves the mask out."""
    if backbone not in _UNMASKED:
        _UNMASKED[backbone] = tokenizer.padding_side == "right" and _same_states(
            backbone,
            tokenizer,
            lambda batch: {"input_ids": batch["input_ids"], "use_cache": False},
            partial(collate, tokenizer),
            "unmasked padding",
        )
    return _UNMASKED[backbone]
