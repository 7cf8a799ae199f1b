"""Every input format loads to the same texts and labels; templates; single and multi labels."""

from __future__ import annotations

import json

import datasets
import pandas as pd
import pytest

from causalclf.data import DataConfig, DataError, load_dataset, read_texts
from causalclf.errors import ConfigError

ROWS = [  # 10 per class, so every split of 0.8/0.1/0.1 can hold each class
    {"title": f"{topic} title {i}", "body": f"{topic} body {i}", "label": topic}
    for topic in ("sport", "money", "film")
    for i in range(10)
]


def _texts_labels(ds):
    pooled = [(t, y) for split in ds.values() for t, y in zip(split.texts, split.labels)]
    return sorted(pooled)


@pytest.fixture
def frame():
    return pd.DataFrame(ROWS)


@pytest.mark.parametrize("suffix", ["csv", "tsv", "jsonl", "parquet"])
def test_file_formats_load_alike(tmp_path, frame, suffix):
    path = tmp_path / f"data.{suffix}"
    if suffix == "csv":
        frame.to_csv(path, index=False)
    elif suffix == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    ds = load_dataset({"path": str(path), "text": "body"})
    assert list(ds) == ["train", "validation", "test"]
    assert [len(ds[s]) for s in ds] == [24, 3, 3]
    assert _texts_labels(ds) == sorted((r["body"], r["label"]) for r in ROWS)
    assert ds.label_space.names == ["film", "money", "sport"]
    assert ds.report.rows_read == ds.report.rows_kept == 30
    for split in ds.values():
        assert split.label_space is ds.label_space


def test_json_array_and_ids(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps(ROWS))
    ds = load_dataset(DataConfig(path=str(path), text="title"))
    assert len(_texts_labels(ds)) == 30
    assert all(i.startswith("data.json:") for s in ds.values() for i in s.ids)


def test_csv_ids_are_file_lines(tmp_path, frame):
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    ds = load_dataset(str(path), text="title", split={"train": 1.0})
    by_id = dict(zip(ds["train"].ids, ds["train"].texts))
    assert by_id["d.csv:2"] == ROWS[0]["title"]  # line 1 is the header
    assert by_id["d.csv:31"] == ROWS[29]["title"]


def test_folder_per_class(tmp_path):
    for r in ROWS:
        folder = tmp_path / "corpus" / r["label"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{r['title'].replace(' ', '_')}.txt").write_text(r["body"])
    (tmp_path / "corpus" / "sport" / ".DS_Store").write_bytes(b"\x00")  # hidden files are not documents
    ds = load_dataset(str(tmp_path / "corpus"))
    assert _texts_labels(ds) == sorted((r["body"], r["label"]) for r in ROWS)
    assert "sport/sport_title_0.txt" in [i for s in ds.values() for i in s.ids]


def test_hf_disk_dataset_and_dataset_dict(tmp_path, frame):
    datasets.Dataset.from_pandas(frame).save_to_disk(str(tmp_path / "one"))
    ds = load_dataset(str(tmp_path / "one"), text="body")
    assert [len(ds[s]) for s in ds] == [24, 3, 3]

    features = datasets.Features(
        {"body": datasets.Value("string"), "label": datasets.ClassLabel(names=["film", "money", "sport"])}
    )

    def part(rows):
        return datasets.Dataset.from_dict(
            {"body": [r["body"] for r in rows], "label": [r["label"] for r in rows]}, features=features
        )

    datasets.DatasetDict({"train": part(ROWS[::2]), "test": part(ROWS[1::2])}).save_to_disk(str(tmp_path / "dd"))
    dd = load_dataset({"path": str(tmp_path / "dd"), "text": "body"})
    # the given test split is kept; validation is carved from train (0.1 / 0.9 of it)
    assert [len(dd[s]) for s in dd] == [13, 2, 15]
    assert sorted(dd["test"].texts) == sorted(r["body"] for r in ROWS[1::2])
    assert set(dd["train"].labels) == {"film", "money", "sport"}  # ClassLabel ids read as names


def test_template_over_several_fields(tmp_path, frame):
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    ds = load_dataset({"path": str(path), "text": "{title}\n{body}", "split": {"train": 1.0}})
    assert sorted(ds["train"].texts)[0] == "film title 0\nfilm body 0"


def test_template_with_a_missing_field_names_it(tmp_path, frame):
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"d\.csv.*column 'abstract'"):
        load_dataset({"path": str(path), "text": "{title}\n{abstract}"})
    with pytest.raises(DataError, match="must name columns"):
        load_dataset({"path": str(path), "text": "{0} and {}"})


def test_multi_label_lists_in_jsonl(tmp_path):
    rows = [{"text": f"doc {i}", "tags": tags} for i, tags in enumerate([["a"], ["b", "a"], ["c"], []] * 5)]
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    ds = load_dataset({"path": str(path), "label": "tags", "split": {"train": 1.0}})
    assert ds.label_space.multi_label and ds.label_space.names == ["a", "b", "c"]
    got = dict(zip(ds["train"].texts, ds["train"].labels))
    assert got["doc 1"] == ["a", "b"] and got["doc 0"] == ["a"] and got["doc 3"] == []


def test_multi_label_delimiter_in_csv(tmp_path):
    pd.DataFrame({"text": ["x", "y", "z", "w"], "label": ["G,B", "H", " A , G ", "B"]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    ds = load_dataset({"path": str(tmp_path / "m.csv"), "label_delimiter": ",", "split": {"train": 1.0}})
    got = dict(zip(ds["train"].texts, ds["train"].labels))
    assert got == {"x": ["B", "G"], "y": ["H"], "z": ["A", "G"], "w": ["B"]}
    assert ds.label_space.names == ["A", "B", "G", "H"]


def test_list_written_into_csv_means_multi_label(tmp_path):
    pd.DataFrame({"text": ["x", "y"], "label": [["a", "b"], ["c"]]}).to_csv(tmp_path / "l.csv", index=False)
    ds = load_dataset(tmp_path / "l.csv", split={"train": 1.0})  # pandas writes "['a', 'b']"
    assert ds["train"].labels == [["a", "b"], ["c"]]


def test_single_label_data_refuses_several_labels(tmp_path):
    (tmp_path / "s.jsonl").write_text('{"text": "x", "label": ["a"]}\n{"text": "y", "label": ["a", "b"]}\n')
    with pytest.raises(DataError, match=r"s\.jsonl, line 2, column 'label'.*single-label"):
        load_dataset({"path": str(tmp_path / "s.jsonl"), "multi_label": False})
    with pytest.raises(DataError, match="contradicts"):
        load_dataset({"path": str(tmp_path / "s.jsonl"), "multi_label": False, "label_delimiter": ","})


def test_multi_label_true_wraps_plain_labels(tmp_path, frame):
    frame.to_csv(tmp_path / "d.csv", index=False)
    ds = load_dataset({"path": str(tmp_path / "d.csv"), "text": "body", "multi_label": True, "split": {"train": 1.0}})
    assert ds.label_space.multi_label and all(len(y) == 1 for y in ds["train"].labels)


def test_label_map_renames_and_rejects_unknown(tmp_path):
    pd.DataFrame({"text": ["x", "y"], "label": [1, 2]}).to_csv(tmp_path / "n.csv", index=False)
    ds = load_dataset(tmp_path / "n.csv", label_map={"1": "one", "2": "two"}, split={"train": 1.0})
    assert ds["train"].labels == ["one", "two"]
    with pytest.raises(DataError, match=r"line 3, column 'label': label '2' is not in label_map"):
        load_dataset(tmp_path / "n.csv", label_map={"1": "one"})


def test_headerless_csv_with_column_names(tmp_path):
    (tmp_path / "h.csv").write_text('"1","Title A","Body A"\n"2","Title B","Body B"\n')
    ds = load_dataset(tmp_path / "h.csv", columns=["y", "t", "b"], text="{t}: {b}", label="y", split={"train": 1.0})
    assert ds["train"].texts == ["Title A: Body A", "Title B: Body B"] and ds["train"].ids == ["h.csv:1", "h.csv:2"]


def test_config_is_checked():
    with pytest.raises(DataError, match="exactly one of"):
        DataConfig()
    with pytest.raises(ConfigError, match="split: the fractions must sum to 1"):  # a value: the field's own check
        DataConfig(path="x", split={"train": 0.5, "test": 0.1})
    with pytest.raises(DataError, match="unknown data config keys"):
        load_dataset({"path": "x", "txt": "body"})
    with pytest.raises(DataError, match="neither a named dataset"):
        load_dataset("no-such-dataset")


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet", "txt", "folder"])
def test_read_texts(tmp_path, kind):
    texts = ["first text", "second, with a comma", "third"]
    if kind == "folder":
        path = tmp_path / "docs"
        (path / "sub").mkdir(parents=True)
        for i, t in enumerate(texts):
            (path / ("sub" if i == 2 else "") / f"{i}.txt").write_text(t)
    elif kind == "txt":
        path = tmp_path / "in.txt"
        path.write_text("\n".join(texts) + "\n\n")
    else:
        path = tmp_path / f"in.{kind}"
        frame = pd.DataFrame({"body": texts})
        {
            "csv": lambda: frame.to_csv(path, index=False),
            "parquet": lambda: frame.to_parquet(path),
            "jsonl": lambda: frame.to_json(path, orient="records", lines=True),
        }[kind]()
    got, ids = read_texts(path, text="body")
    assert got == texts and len(set(ids)) == 3
    assert (
        ids[0]
        == {"folder": "0.txt", "txt": "in.txt:1", "csv": "in.csv:2", "jsonl": "in.jsonl:1", "parquet": "in.parquet:1"}[
            kind
        ]
    )


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_a_one_megabyte_field_loads(tmp_path, suffix):
    # Python's csv module stops at 131,072 characters a field unless told otherwise (readers.CSV_FIELD_LIMIT).
    big = ('a long document, with "quotes" and commas ' * 30_000)[:1_000_000]
    frame = pd.DataFrame({"text": [big, "short one", "another"], "label": ["a", "b", "a"]})
    path = tmp_path / f"big.{suffix}"
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_json(path, orient="records", lines=True)
    ds = load_dataset(path, split={"train": 1.0})
    assert sorted(ds["train"].texts, key=len)[-1] == big
    assert read_texts(path)[0] == [big, "short one", "another"]
