"""Token-budget batches: every text once, no batch over the budget, the same outputs as fixed batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from causalclf.methods import load_classifier
from causalclf.runtime.batching import batch_indices, batched
from tests.methods._encoders import tiny_bert  # noqa: F401  (fixture)

LONG = "the match goal team player win football tennis money bank market stock price film " * 3
MIXED = [" ".join(LONG.split()[:n]) for n in (1, 2, 3, 30, 5, 8, 40, 2, 1, 13, 21, 3, 6, 9, 1, 34, 2)]


@given(lengths=st.lists(st.integers(1, 64), max_size=80), budget=st.integers(64, 300))
def test_budget_batches_hold_every_text_once_longest_first_within_budget(lengths, budget):
    batches = batch_indices(lengths, batch_size=4, max_batch_tokens=budget)
    flat = np.concatenate(batches) if batches else np.array([], dtype=int)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    for b in batches:
        assert max(lengths[i] for i in b) * len(b) <= budget
    for b in batches[:-1]:  # greedy: one more text would have overflowed each batch but the last
        assert lengths[b[0]] * (len(b) + 1) > budget


@given(lengths=st.lists(st.integers(1, 64), max_size=50), size=st.integers(1, 9))
def test_without_a_budget_batches_are_fixed_size_longest_first(lengths, size):
    batches = batch_indices(lengths, batch_size=size)
    assert [len(b) for b in batches] == [min(size, len(lengths) - s) for s in range(0, len(lengths), size)]
    order = np.argsort([-n for n in lengths], kind="stable").tolist()
    assert [i for b in batches for i in b] == order


def test_a_text_longer_than_the_budget_is_refused():
    with pytest.raises(ValueError, match="does not fit max_batch_tokens=8"):
        batch_indices([3, 9, 2], batch_size=4, max_batch_tokens=8)


def test_batched_returns_rows_in_input_order_whatever_the_batches():
    rows = [{"input_ids": list(range(n)), "attention_mask": [1] * n} for n in (3, 1, 7, 2, 5)]

    def collate(batch):
        width = max(len(r["input_ids"]) for r in batch)
        ids = torch.tensor([r["input_ids"] + [0] * (width - len(r["input_ids"])) for r in batch])
        return {"input_ids": ids, "attention_mask": (ids >= 0).long()}

    def fn(batch):  # each row's id sum, and the batch's padded width
        ids = batch["input_ids"]
        return torch.stack([ids.sum(1), torch.tensor([ids.shape[1]] * len(ids))], 1)

    fixed = batched(fn, rows, collate, 2, "x", torch.device("cpu"))
    budget = batched(fn, rows, collate, 2, "x", torch.device("cpu"), max_batch_tokens=10)
    np.testing.assert_array_equal(fixed[:, 0], [3, 0, 21, 1, 10])  # each row's own ids, in input order
    np.testing.assert_array_equal(budget[:, 0], fixed[:, 0])


def _recording(clf):
    """Records the (texts, padded length) of every batch the classifier runs."""
    shapes, collate = [], clf._collate

    def record(rows):
        batch = collate(rows)
        shapes.append(tuple(batch["input_ids"].shape))
        return batch

    clf._collate = record
    return shapes


def test_embedding_head_predicts_the_same_under_a_budget_and_keeps_to_it(head_model):
    clf = load_classifier(head_model).set_params(packing=False)  # max_length 16, batch_size 4; padded batches
    fixed_shapes = _recording(clf)
    fixed = clf.predict_with_proba(MIXED)
    clf = load_classifier(head_model).set_params(max_batch_tokens=40, packing=False)
    shapes = _recording(clf)
    budget = clf.predict_with_proba(MIXED)
    np.testing.assert_allclose(budget.proba, fixed.proba, atol=1e-5)
    assert budget.labels == fixed.labels
    assert all(n * width <= 40 for n, width in shapes)
    assert max(n for n, _ in shapes) > 4  # short texts went in batches larger than batch_size
    assert max(n * width for n, width in fixed_shapes) > 40  # which fixed batches of 4 exceed


def test_encoder_predicts_the_same_under_a_budget(tiny_bert):
    from causalclf.methods.encoder.classifier import EncoderClassifier
    from tests.toy import toy_single_label

    texts, labels = toy_single_label(4)
    clf = EncoderClassifier(
        model=tiny_bert, max_length=16, batch_size=3, training={"epochs": 1, "batch_size": 8, "progress_bar": False}
    ).fit(texts, labels)
    fixed = clf.predict_proba(MIXED)
    shapes = _recording(clf.set_params(max_batch_tokens=32))
    np.testing.assert_allclose(clf.predict_proba(MIXED), fixed, atol=1e-5)
    assert all(n * width <= 32 for n, width in shapes)
