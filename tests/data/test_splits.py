"""Splits: stratified, iteratively stratified for multi-label, seeded, and shared label space."""

from __future__ import annotations

import json
import logging
import random
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalclf.data import DataError, LabelSpace, TextDataset, load_dataset
from causalclf.data.splits import partition, split_sizes


def _single(tmp_path, counts=None):
    counts = counts or {"big": 600, "mid": 300, "small": 100}
    rows = [(f"{y} {i}", y) for y, n in counts.items() for i in range(n)]
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(tmp_path / "s.csv", index=False)
    return tmp_path / "s.csv"


def _multi_labels(n=600, seed=0):
    rng = random.Random(seed)
    common = list("ABCDEF")
    labels = []
    for i in range(n):
        ys = set(rng.sample(common, rng.choice([1, 1, 2, 3])))
        if i % 100 == 0:  # R1: 6 items, R2: 3 items
            ys.add("R1")
        if i % 200 == 7:
            ys.add("R2")
        labels.append(sorted(ys))
    return labels


def _multi(tmp_path):
    labels = _multi_labels()
    pd.DataFrame({"text": [f"doc {i}" for i in range(len(labels))], "label": [",".join(y) for y in labels]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    return tmp_path / "m.csv"


def test_stratified_split_keeps_class_proportions(tmp_path):
    ds = load_dataset(_single(tmp_path))
    assert [len(ds[s]) for s in ds] == [800, 100, 100]
    for split in ds.values():
        counts = split.label_counts()
        for label, share in {"big": 0.6, "mid": 0.3, "small": 0.1}.items():
            assert abs(counts[label] - share * len(split)) <= 1


def test_iterative_stratification_puts_every_label_in_each_split(tmp_path):
    ds = load_dataset(_multi(tmp_path), label_delimiter=",")
    assert ds.label_space.multi_label and len(ds.label_space) == 8
    assert [len(ds[s]) for s in ds] == [480, 60, 60]
    whole = Counter(y for s in ds.values() for ys in s.labels for y in ys)
    for split in ds.values():
        counts = split.label_counts()
        assert set(counts) == set(ds.label_space.names)  # R2 has 3 items: one per split
        for label in "ABCDEF":
            assert abs(counts[label] - whole[label] * len(split) / 600) <= 2  # a random split: ~3.5 sd


@pytest.mark.parametrize("make, extra", [(_single, {}), (_multi, {"label_delimiter": ","})])
def test_splits_are_deterministic_for_a_seed(tmp_path, make, extra):
    path = make(tmp_path)
    a, b, c = (load_dataset(path, seed=seed, **extra) for seed in (42, 42, 7))
    assert all(a[s].ids == b[s].ids for s in a)
    assert a["test"].ids != c["test"].ids
    assert sorted(i for s in a.values() for i in s.ids) == sorted(i for s in c.values() for i in s.ids)


def test_label_space_is_shared_and_built_from_all_splits(tmp_path):
    pd.DataFrame({"text": ["a1", "a2", "b1"], "label": ["a", "a", "b"]}).to_csv(tmp_path / "tr.csv", index=False)
    pd.DataFrame({"text": ["c1", "a3"], "label": ["c", "a"]}).to_csv(tmp_path / "te.csv", index=False)
    pd.DataFrame({"text": ["b2"], "label": ["b"]}).to_csv(tmp_path / "va.csv", index=False)
    ds = load_dataset(
        {"train": str(tmp_path / "tr.csv"), "validation": str(tmp_path / "va.csv"), "test": str(tmp_path / "te.csv")}
    )
    assert ds.label_space == LabelSpace(["a", "b", "c"])
    assert all(s.label_space is ds.label_space for s in ds.values())
    assert [len(ds[s]) for s in ds] == [3, 1, 2]  # given splits are kept as they are
    assert ds["test"].label_space.encode(ds["test"].labels).tolist() == [2, 0]


def test_validation_is_carved_from_train_when_only_train_and_test_are_given(tmp_path):
    path = _single(tmp_path)
    ds = load_dataset({"train": str(path), "test": str(path), "drop_duplicates": False})
    assert [len(ds[s]) for s in ds] == [889, 111, 1000]  # 0.1 / (0.8 + 0.1) of train
    assert not set(ds["train"].ids) & set(ds["validation"].ids)


def test_split_fractions_and_a_left_out_split(tmp_path):
    ds = load_dataset(_single(tmp_path), split={"train": 0.7, "test": 0.3})
    assert list(ds) == ["train", "test"] and [len(ds[s]) for s in ds] == [700, 300]


def test_a_class_too_rare_to_stratify_is_named_and_stays_in_train(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(_single(tmp_path, {"a": 20, "b": 20, "lonely": 1}))
    assert "class 'lonely' has 1 row: too few rows to stratify, kept in the training part only" in caplog.text
    assert sum(len(s) for s in ds.values()) == 41 and ds["train"].label_counts()["lonely"] == 1
    assert all(ds[s].label_counts() == {"a": 2, "b": 2} for s in ("validation", "test"))  # still stratified


def test_limit_is_a_stratified_sample(tmp_path):
    ds = load_dataset(_single(tmp_path), limit=100, split={"train": 1.0})
    assert len(ds["train"]) == 100 and ds["train"].label_counts() == {"big": 60, "mid": 30, "small": 10}
    assert ds.report.dropped_by_limit == 900


def test_sample_is_stratified_ordered_and_seeded():
    labels = ["x"] * 80 + ["y"] * 20
    data = TextDataset(
        [f"t{i}" for i in range(100)], labels, LabelSpace.from_labels(labels), [f"f:{i}" for i in range(100)]
    )
    s = data.sample(10, seed=3)
    assert len(s) == 10 and Counter(s.labels) == {"x": 8, "y": 2}
    assert s.ids == sorted(s.ids, key=lambda i: int(i[2:])) and s.label_space is data.label_space
    assert data.sample(10, seed=3).ids == s.ids and data.sample(10, seed=4).ids != s.ids
    assert len(data.sample(500)) == 100
    assert len(data.sample(10, stratified=False)) == 10


def test_sample_multi_label_keeps_labels():
    labels = _multi_labels(300)
    data = TextDataset([f"t{i}" for i in range(300)], labels, LabelSpace.from_labels(labels))
    s = data.sample(60, seed=0)
    assert len(s) == 60 and set(s.label_counts()) >= set("ABCDEF")


def test_text_dataset_checks_lengths():
    with pytest.raises(ValueError, match="do not line up"):
        TextDataset(["a", "b"], ["x"], LabelSpace(["x"]))


def test_missing_split_key_is_explained(tmp_path):
    ds = load_dataset(_single(tmp_path), split={"train": 0.9, "test": 0.1})
    with pytest.raises(KeyError, match="splits are"):
        ds["validation"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from("abc"), min_size=3, max_size=60), st.data())
def test_partition_is_a_partition(labels, data):
    n = len(labels)
    fractions = data.draw(st.sampled_from([[0.8, 0.1, 0.1], [0.5, 0.5], [0.34, 0.33, 0.33]]))
    sizes = split_sizes(n, fractions)
    parts = partition(labels, sizes, seed=data.draw(st.integers(0, 10)))
    assert [len(p) for p in parts] == sizes
    assert sorted(np.concatenate(parts).tolist()) == list(range(n))


def test_pre_split_with_a_dataset_dict_inside_is_refused(tmp_path):
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a"], "label": ["x"]})}).save_to_disk(
        str(tmp_path / "dd")
    )
    with pytest.raises(DataError, match="holds its own splits"):
        load_dataset({"train": str(tmp_path / "dd"), "test": str(tmp_path / "dd")})


@settings(max_examples=30, deadline=None)
@given(
    st.dictionaries(st.sampled_from("abcde"), st.integers(2, 40), min_size=2),
    st.integers(0, 5),
    st.sampled_from([[0.8, 0.2], [0.5, 0.5], [0.7, 0.3]]),
)
def test_stratified_parts_hold_each_class_in_proportion_within_one_item(counts, seed, fractions):
    labels = [c for c, n in sorted(counts.items()) for _ in range(n)]
    sizes = split_sizes(len(labels), fractions)
    if min(sizes) < len(counts):  # a part too small to hold every class cannot be stratified
        return
    parts = partition(labels, sizes, seed)
    for part, size in zip(parts, sizes):
        got = Counter(labels[i] for i in part)
        for c, n in counts.items():
            assert abs(got[c] - n * size / len(labels)) <= 1, (c, got[c], n, size)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["x", "y", "z", "w"]), st.sampled_from("ab")), min_size=12, max_size=60),
    st.integers(0, 5),
)
def test_kept_duplicates_never_straddle_splits(tmp_path_factory, rows, seed):
    path = tmp_path_factory.mktemp("dups") / "d.jsonl"
    path.write_text("".join(json.dumps({"text": f"text {t}", "label": y}) + "\n" for t, y in rows))
    spec = {"path": str(path), "drop_duplicates": False, "seed": seed, "split": {"train": 0.5, "test": 0.5}}
    distinct = {t: y for t, y in reversed(rows)}  # a text's group goes where its first row's label sends it
    if len(distinct) < 2 or len(set(y for _, y in rows)) < 2:  # too few texts for two splits, or one class
        with pytest.raises(DataError, match="too few rows to split|of one class"):
            load_dataset(spec)
        return
    try:
        ds = load_dataset(spec)
    except DataError as e:  # the training half drew texts of one class only: said so, never split silently
        assert "of one class" in str(e)
        return
    assert sum(len(d) for d in ds.values()) == len(rows)  # a partition: nothing lost, nothing twice
    assert not set(ds["train"].texts) & set(ds["test"].texts)


def test_given_splits_that_share_texts_are_reported(tmp_path, caplog):
    path = _single(tmp_path)
    with caplog.at_level(logging.WARNING):
        ds = load_dataset({"train": str(path), "test": str(path), "drop_duplicates": False})
    assert "1,000 texts of the test split also in an earlier split (kept as given)" in ds.report.summary()
    assert "drop_duplicates: true drops them" in caplog.text
