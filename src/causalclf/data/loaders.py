"""`load_dataset` and `read_texts`: records -> checked (text, label) rows -> deduplicated -> split."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from causalclf.data.config import SPLIT_NAMES, DataConfig
from causalclf.data.dataset import DatasetSplits, TextDataset
from causalclf.data.label_values import LabelValueError, RawLabel, parse_label, settle
from causalclf.data.labels import LabelSpace
from causalclf.data.readers import iter_records, read_source, text_input
from causalclf.data.records import EXCLUDED, Record
from causalclf.data.report import DataError, LoadReport, OnError, RowErrors, plural
from causalclf.data.spec import NAMED, Cleaner
from causalclf.data.splits import partition, split_sizes
from causalclf.data.templates import TextTemplate

logger = logging.getLogger(__name__)


def load_dataset(source: str | Path | Mapping[str, Any] | DataConfig, **overrides: Any) -> DatasetSplits:
    """Loads, checks and splits a labelled dataset.

    `source` is a named dataset ("bbc-news", "ag_news", "uspto", "reuters"), a path to a file or folder, a
    dict of `DataConfig` fields (as in YAML), or a `DataConfig`; `overrides` set fields on top,
    e.g. ``load_dataset("uspto", root="/data")`` or ``load_dataset("bbc-news", seed=1)``.
    """
    config = _as_config(source, overrides)
    label = config.name or config.path or config.train
    clean, notes = None, []
    if config.name:
        key = config.name.lower().replace("_", "-")
        if key not in NAMED:
            raise DataError(f"unknown dataset name {config.name!r}; named datasets: {sorted(NAMED)}")
        config, clean, notes = NAMED[key](config)
    return _load(config, clean, str(label), notes)


def read_texts(
    path: str | Path, text: str = "text", on_error: OnError = "raise", *, format: str = "auto", encoding: str = "utf-8"
) -> tuple[list[str], list[str]]:
    """Unlabelled texts and their ids, for prediction.

    `path` is a csv/tsv/jsonl/json/parquet file (`text` names the column or is a template), a .txt
    file (one text per line), or a folder (one text per file, all files, sorted).
    """
    path, fmt, template = text_input(path, text, format)
    report = LoadReport()
    errors = RowErrors(on_error, report)
    rows = _RowChecker(template, errors, report, encoding=encoding)
    texts, ids = [], []
    # The same record stream that `causalclf predict` reads chunk by chunk (causalclf.inference).
    for record in iter_records(path, fmt, template.fields, encoding=encoding, labelled=False):
        t = rows.text(record)
        if t is not None:
            texts.append(t)
            ids.append(record.id)
    errors.log_summary()
    if not texts:
        raise DataError(f"{path}: no texts to read ({report.summary()})")
    return texts, ids


def _as_config(source, overrides: Mapping[str, Any]) -> DataConfig:
    if isinstance(source, DataConfig):
        fields = dataclasses.asdict(source)
    elif isinstance(source, Mapping):
        fields = dict(source)
    elif isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        is_name = str(source).lower().replace("_", "-") in NAMED and not path.exists()
        fields = {"name": str(source)} if is_name else {"path": str(path)}
        if not is_name and not path.exists():
            raise DataError(f"{source!r} is neither a named dataset {sorted(NAMED)} nor an existing path")
    else:
        raise TypeError(f"load_dataset takes a name, path, dict or DataConfig, not {type(source).__name__}")
    return DataConfig.from_dict({**fields, **overrides})


@dataclass
class _Row:
    text: str
    label: RawLabel
    record: Record


class _RowChecker:
    """Extracts one record's text and label, reporting what is wrong with them as bad rows."""

    def __init__(
        self,
        template: TextTemplate,
        errors: RowErrors,
        report: LoadReport,
        *,
        encoding: str,
        fallback_encoding: str | None = None,
        clean: Cleaner | None = None,
    ):
        self.template, self.errors, self.report = template, errors, report
        self.encoding, self.fallback, self.clean = encoding, fallback_encoding, clean

    def text(self, record: Record) -> str | None:
        self.report.rows_read += 1
        if record.problem is not None:
            self.errors(record.problem)
            return None
        for column in self.template.fields:
            if not self._usable(record, column):
                return None
        text = self.template.render(record.fields)
        if self.clean is not None:
            text = self.clean(text)
        if not text.strip():
            self.errors(record.issue(self.template.spec, "empty text"))
            return None
        return text

    def label(self, record: Record, column: str, delimiter: str | None, label_map) -> RawLabel | None:
        if not self._usable(record, column):
            return None
        try:
            return parse_label(record.fields[column], delimiter, label_map)
        except LabelValueError as e:
            self.errors(record.issue(column, str(e)))
            return None

    def _usable(self, record: Record, column: str) -> bool:
        """The column is present and decodable (recoded with the fallback encoding where one is set)."""
        if column not in record.fields:
            self.errors(record.issue(column, f"missing column; the row has {sorted(record.fields)}"))
            return False
        value = record.fields[column]
        if not isinstance(value, str) or value.isascii():
            return True
        # Readers decode with surrogateescape: each undecodable byte is a lone surrogate U+DC80-U+DCFF.
        bad = bytes(ord(c) - 0xDC00 for c in value if "\udc80" <= c <= "\udcff")
        if not bad:
            return True
        if self.fallback is None:
            self.errors(
                record.issue(
                    column, f"undecodable bytes {bad!r}: not valid {self.encoding} (set encoding, or fallback_encoding)"
                )
            )
            return False
        record.fields[column] = value.encode(self.encoding, "surrogateescape").decode(self.fallback)
        self.report.recoded.append(
            record.issue(column, f"{bad!r} is not valid {self.encoding}; decoded as {self.fallback}")
        )
        return True


def _load(config: DataConfig, clean: Cleaner | None, name: str, notes: list[str] = ()) -> DatasetSplits:
    report = LoadReport(notes=list(notes))
    errors = RowErrors(config.on_error, report)
    template = TextTemplate(config.text_spec)
    checker = _RowChecker(
        template, errors, report, encoding=config.encoding, fallback_encoding=config.fallback_encoding, clean=clean
    )
    needed = list(dict.fromkeys([*template.fields, config.label_column]))

    rows: dict[str | None, list[_Row]] = {}
    notes: Counter = Counter()
    for given, path in (config.given_splits() or {None: config.path}).items():
        found = read_source(path, config.format, needed, encoding=config.encoding, columns=config.columns)
        excluded = found.pop(EXCLUDED, [])
        report.rows_read += len(excluded)
        report.excluded += len(excluded)
        for split, records in found.items():
            if given is not None and split is not None:
                raise DataError(f"{path}: holds its own splits {sorted(found)}; give it as path, not {given}")
            rows[given or split] = _check_rows(records, checker, config)
            notes.update(r.note for r in records if r.note)
    report.notes += [f"{plural(n, 'row')}: {note}" for note, n in notes.items()]
    rows = _settle_labels(rows, config, errors)
    if config.drop_duplicates:
        rows = _drop_duplicates(rows, report)
    if config.top_k is not None:
        rows = _keep_top_k(rows, config.top_k, report)
    if config.limit is not None:
        rows = {s: _limit(r, config, report) for s, r in rows.items()}
    errors.log_summary()
    if not any(rows.values()):
        raise DataError(f"{name}: no rows left to load ({report.summary()})")

    labels = [r.label for split_rows in rows.values() for r in split_rows]
    space = LabelSpace.from_labels(labels)
    pooled = {
        s: TextDataset([r.text for r in rs], [r.label for r in rs], space, [r.record.id for r in rs])
        for s, rs in rows.items()
    }
    report.rows_kept = sum(len(d) for d in pooled.values())  # splitting moves rows, never drops them
    splits = _split(pooled, config, report, name)
    result = DatasetSplits(splits, space, report, name)
    logger.info("%s", result.summary().splitlines()[0] + "; " + report.summary())
    return result


def _check_rows(records: list[Record], checker: _RowChecker, config: DataConfig) -> list[_Row]:
    rows = []
    for record in records:
        text = checker.text(record)
        if text is None:
            continue
        label = checker.label(record, config.label_column, config.label_delimiter, config.label_map)
        if label is not None:
            rows.append(_Row(text, label, record))
    return rows


def _settle_labels(rows: dict[str | None, list[_Row]], config: DataConfig, errors: RowErrors):
    """All single labels or all lists, decided over every split together."""
    flat = [r for rs in rows.values() for r in rs]
    settled, bad = settle([r.label for r in flat], config.multi_label)
    for i in bad:
        errors(
            flat[i].record.issue(
                config.label_column,
                f"{len(flat[i].label)} labels {flat[i].label} in single-label data (set multi_label: true)",
            )
        )
    for r, y in zip(flat, settled):
        r.label = y
    rejected = {id(flat[i]) for i in bad}
    return {s: [r for r in rs if id(r) not in rejected] for s, rs in rows.items()}


def _drop_duplicates(rows: dict[str | None, list[_Row]], report: LoadReport):
    """Each text once. Unsplit data keeps a text's first occurrence. Data that comes split keeps its validation
    and test splits as given (results stay comparable with others' on the same split): a training text that
    repeats one of theirs is dropped from train (it would leak), as are repeats within train."""
    if None in rows:
        seen: set[str] = set()
        kept = []
        for r in rows[None]:
            if r.text in seen:
                report.duplicates_dropped += 1
            else:
                seen.add(r.text)
                kept.append(r)
        return {None: kept}
    held_out = {r.text: split for split in ("validation", "test") for r in rows.get(split, [])}
    train, seen = [], set()
    for r in rows.get("train", []):
        if r.text in held_out:
            report.leaked_from_train.append(r.record.id)
        elif r.text in seen:
            report.duplicates_dropped += 1
        else:
            seen.add(r.text)
            train.append(r)
    return {**rows, "train": train} if "train" in rows else rows


def _keep_top_k(rows: dict[str | None, list[_Row]], k: int, report: LoadReport):
    """Only the k labels most frequent in the training rows (all rows when unsplit); ties go to the
    name that sorts first. Rows left with no label are dropped."""
    if not all(isinstance(r.label, list) for rs in rows.values() for r in rs):
        raise DataError("top_k keeps the most frequent labels of multi-label data; these labels are single")
    counted = rows.get("train", rows.get(None, []))
    counts = Counter(y for r in counted for y in r.label)
    kept = {y for y, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:k]}
    report.labels_dropped = sorted({y for rs in rows.values() for r in rs for y in r.label} - kept)
    out = {}
    for split, split_rows in rows.items():
        out[split] = []
        for r in split_rows:
            r.label = [y for y in r.label if y in kept]
            if r.label:
                out[split].append(r)
            else:
                report.dropped_by_top_k += 1
    return out


def _limit(rows: list[_Row], config: DataConfig, report: LoadReport) -> list[_Row]:
    if len(rows) <= config.limit:
        return rows
    _, chosen = partition([r.label for r in rows], [len(rows) - config.limit, config.limit], config.seed)
    report.dropped_by_limit += len(rows) - config.limit
    return [rows[i] for i in chosen]


def _split(
    pooled: dict[str | None, TextDataset], config: DataConfig, report: LoadReport, name: str
) -> dict[str, TextDataset]:
    """Unsplit data -> train/validation/test by `config.split`; given splits are kept, and a
    missing validation split is carved from train when a test split was given. Repeated texts
    (kept with ``drop_duplicates: false``) always land in one split together. Data too small for the
    splits asked for is a `DataError` that counts what each step of the load left."""
    fractions = {s: config.split.get(s, 0.0) for s in SPLIT_NAMES}
    if None in pooled:
        data = pooled[None]
        names = [s for s in SPLIT_NAMES if fractions[s] > 0]
        sizes = split_sizes(len(set(data.texts)), [fractions[s] for s in names])
        if min(sizes) < 1:
            raise DataError(
                f"{name}: too few rows to split: {report.summary()}; {len(set(data.texts))} distinct "
                f"texts give "
                + ", ".join(f"{s} {n}" for s, n in zip(names, sizes))
                + f" at split {config.split}. Every split needs a row: add data, or change split"
            )
        report.split = _describe_split({s: fractions[s] for s in names}, config.seed, data.label_space)
        parts = _grouped_partition(data, [fractions[s] for s in names], config.seed)
        splits = {s: data.subset(p) for s, p in zip(names, parts)}
        _check_trainable(splits["train"], name, report)
        return splits
    splits = {s: pooled[s] for s in SPLIT_NAMES if s in pooled}
    if "train" not in splits:
        raise DataError(f"the given splits {list(splits)} have no train split")
    empty = [s for s, part in splits.items() if not len(part)]
    if empty:
        raise DataError(
            f"{name}: the given {' and '.join(empty)} split(s) hold no rows once loaded: {report.summary()}"
        )
    _check_trainable(splits["train"], name, report)
    if "validation" not in splits and "test" in splits and fractions["validation"] > 0:
        train = splits["train"]
        share = fractions["validation"] / (fractions["train"] + fractions["validation"])
        keep, carved = _grouped_partition(train, [1 - share, share], config.seed)
        report.split = _describe_split({"validation": share}, config.seed, train.label_space, "carved from train")
        splits = {"train": train.subset(keep), "validation": train.subset(carved), "test": splits["test"]}
    seen: set[str] = set()
    for split, part in splits.items():  # in split order: each split against the ones before it
        n = sum(t in seen for t in part.texts)
        if n:  # only possible with drop_duplicates: false, in files that came already split
            report.notes.append(f"{plural(n, 'text')} of the {split} split also in an earlier split (kept as given)")
            logger.warning(
                "%s of the %s split also appear in an earlier split; drop_duplicates: true drops them",
                plural(n, "text"),
                split,
            )
        seen.update(part.texts)
    return splits


def _check_trainable(train: TextDataset, name: str, report: LoadReport) -> None:
    """A single-label training split needs two classes to learn anything."""
    if not train.label_space.multi_label and len(set(train.labels)) < 2:
        raise DataError(
            f"{name}: the training split holds {plural(len(train), 'row')} of one class "
            f"({', '.join(sorted(set(map(str, train.labels))))}): a classifier needs at least two "
            f"({report.summary()})"
        )


def _grouped_partition(data: TextDataset, fractions: list[float], seed: int) -> list[list[int]]:
    """`partition` by text: each distinct text (with the label of its first row) is placed once,
    and its repeats follow it, so no text is in two parts."""
    groups: dict[str, list[int]] = {}
    for i, text in enumerate(data.texts):
        groups.setdefault(text, []).append(i)
    firsts = [rows[0] for rows in groups.values()]
    parts = partition([data.labels[i] for i in firsts], split_sizes(len(firsts), fractions), seed)
    members = list(groups.values())
    return [sorted(i for g in part for i in members[g]) for part in parts]


def _describe_split(fractions: dict[str, float], seed: int, space: LabelSpace, how: str = "split") -> str:
    kind = "iterative stratification" if space.multi_label else "stratified"
    parts = " / ".join(f"{s} {f:.0%}" for s, f in fractions.items())
    return f"{how} by causalclf: {parts} ({kind}, seed {seed})"


def _split_order(split: str | None) -> int:
    return -1 if split is None else SPLIT_NAMES.index(split)
