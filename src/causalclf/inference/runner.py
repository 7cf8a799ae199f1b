"""`predict_file`: a saved classifier over a file of any size: chunked, resumable, sharded.

    from causalclf.inference import predict_file
    summary = predict_file("runs/bbc/model", "articles.parquet", "labels.parquet", text="{title}\\n{body}",
                           on_error="skip", max_batch_tokens=16384)
    print(summary)   # wrote 1,000,000 predictions to labels.parquet (...), 850 docs/s

The steps, each failing before the costlier ones: check the output path; open the input and
the model folder; on resume, check both against the manifest; scan the input (every row read
and checked, none predicted: the row count for the progress bar, and with
``on_error="raise"`` the first bad row, before any model work); load the model; predict the
chunks not committed yet (this process's share of them), committing each as a part file
(`parts`); wait for every process; merge the parts into the output in input order.

Memory holds one chunk (`chunk_rows` texts and their predictions) at a time, whatever the
size of the input or the output.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from causalclf.data.report import DataError, OnError, plural
from causalclf.errors import UserError
from causalclf.inference import sinks
from causalclf.inference.parts import RunFolder
from causalclf.inference.sinks import open_sink, prediction_schema, prediction_table
from causalclf.inference.sources import DEFAULT_CHUNK_ROWS, Chunk, Counts, TextSource
from causalclf.methods import load_classifier, method
from causalclf.methods.base import Classifier
from causalclf.methods.model_folder import read_config
from causalclf.processes import current as current_processes

logger = logging.getLogger(__name__)

MANIFEST_VERSION = 1
RESUME_CHECKS = {
    "version": "the run folder's format",
    "model": "the model",
    "input": "the input",
    "text": "the text column or template",
    "encoding": "the encoding",
    "on_error": "on_error",
    "output_format": "the output format",
    "chunk_rows": "chunk_rows",
}
"""Manifest entries a resumed run must match (what decides the rows and values written), in words."""


@dataclass
class PredictSummary:
    """What a `predict_file` run did, over every process."""

    output: str | None
    """The file written; None for a stream."""
    counts: Counts
    """Rows read, predicted, skipped and cut, over the whole input."""
    predicted_now: int
    """Texts predicted by this run (the rest were committed by an earlier, resumed, run)."""
    seconds: float
    """The whole run: checks, scan, model loading, prediction and merge."""
    predict_seconds: float
    """From the first chunk to the last process's last one."""
    chunks: int
    resumed_chunks: int
    """Chunks an earlier run had committed."""
    processes: int

    @property
    def docs_per_second(self) -> float:
        return self.predicted_now / self.predict_seconds if self.predict_seconds > 0 else 0.0

    def __str__(self) -> str:
        where = f" to {self.output}" if self.output else ""
        parts = [
            f"wrote {plural(self.counts.texts, 'prediction')}{where} ({plural(self.counts.rows, 'row')} read"
            + "".join(f"; {d}" for d in [self.counts.describe()] if d)
            + ")",
            f"{self.predicted_now:,} predicted at {self.docs_per_second:,.1f} docs/s"
            + (f" over {self.processes} processes" if self.processes > 1 else "")
            + f"; {self.seconds:.1f} s in all",
        ]
        if self.resumed_chunks:
            parts.append(f"resumed: {self.resumed_chunks:,} of {self.chunks:,} chunks were committed before")
        return "; ".join(parts)


def predict_file(
    model: str | Path | Classifier,
    input: str | Path,
    output: str | Path | None = None,
    *,
    text: str = "text",
    input_format: str = "auto",
    output_format: str | None = None,
    encoding: str = "utf-8",
    on_error: OnError = "raise",
    resume: bool = False,
    chunk_rows: int | None = None,
    batch_size: int | None = None,
    max_batch_tokens: int | None = None,
    progress: bool = True,
    stream: IO[str] | None = None,
) -> PredictSummary | None:
    """Predicts every text of `input` with `model` (a saved model folder or a fitted classifier).

    `output` is a .jsonl/.csv/.parquet file (`output_format` overrides the extension); its folder must exist.
    None writes JSON lines (or CSV) to `stream` (stdout), unresumable. An existing output is an error unless
    `resume` continues the unfinished run that is writing it (the model, input and settings must be the same).
    `batch_size` and `max_batch_tokens` (token-budget batches, see `methods.transformer_params.TokenBudget`)
    override the model's own for this run. Under `accelerate launch` or
    `torchrun` every process predicts a share of the chunks and the main one merges them and
    returns the summary (the others return None).
    """
    start = time.perf_counter()
    processes = current_processes()
    folder = None if output is None else _run_folder(Path(output), resume)
    fmt = sinks.output_format(None if output is None else Path(output), output_format)
    if folder is None:
        if resume:
            raise UserError("resume needs an output file (-o): a stream cannot be continued")
        if processes.world > 1:
            raise UserError(
                "a sharded run needs an output file (-o): each process writes its part, the main one merges them"
            )
        if fmt == "parquet":
            raise UserError("parquet cannot be streamed; give an output file (-o out.parquet)")
    for name, value in (("chunk_rows", chunk_rows), ("batch_size", batch_size), ("max_batch_tokens", max_batch_tokens)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise UserError(f"{name} must be a positive integer, not {value!r}")
    source = TextSource(input, text, format=input_format, encoding=encoding, on_error=on_error)
    batch_params = _batch_params(model, batch_size, max_batch_tokens)
    recorded = folder.manifest() if folder is not None and resume and folder.exists() else None
    chunk_rows = chunk_rows or (recorded or {}).get("chunk_rows") or DEFAULT_CHUNK_ROWS
    manifest = {
        "version": MANIFEST_VERSION,
        "model": _model_identity(model),
        "input": {"format": source.format, **_files_identity(source.path)},
        "text": source.template.spec,
        "encoding": encoding,
        "on_error": on_error,
        "output_format": fmt,
        "chunk_rows": chunk_rows,
    }
    if recorded is not None:
        _check_same_run(recorded, manifest, folder)

    scan = source.scan(chunk_rows)
    if not scan.texts:
        raise DataError(f"{source.path}: no texts to read ({plural(scan.rows, 'row')} read; {scan.describe()})")
    n_chunks = -(-scan.rows // chunk_rows)
    done: set[int] = set()
    if folder is not None:
        processes.wait()  # every process has checked the folder before the main one changes it
        if processes.is_main:
            if recorded is None:
                folder.start({**manifest, "rows": scan.rows})
            else:
                folder.clean()
        processes.wait()
        done = folder.done()
        if done:
            logger.info(
                "resuming: %s of %s committed, %s to predict",
                plural(len(done), "chunk"),
                f"{n_chunks:,}",
                plural(n_chunks - len(done), "chunk"),
            )
    mine = processes.share([k for k in range(n_chunks) if k not in done])

    clf = model if isinstance(model, Classifier) else load_classifier(model)
    schema = prediction_schema(clf.labels_, clf.multi_label)
    predicting = time.perf_counter()
    with clf.temporary_params(**batch_params):  # a caller's classifier is left as it was
        own = _predict_chunks(
            clf,
            source,
            chunk_rows,
            mine,
            scan.rows,
            schema,
            folder,
            fmt,
            stream or sys.stdout,
            progress and processes.is_main,
        )
    if folder is None:
        end = time.perf_counter()
        return PredictSummary(None, own, own.texts, end - start, end - predicting, n_chunks, 0, 1)
    processes.wait()
    predict_seconds = time.perf_counter() - predicting
    try:
        if not processes.is_main:
            return None
        total, now = _merge(folder, fmt, schema, n_chunks, done)
        return PredictSummary(
            str(output), total, now, time.perf_counter() - start, predict_seconds, n_chunks, len(done), processes.world
        )
    finally:
        processes.close()


def _run_folder(output: Path, resume: bool) -> RunFolder:
    """The run folder beside `output`, once `output` is known to be writable and, without
    `resume`, new: nothing is ever overwritten."""
    if output.is_dir():
        raise UserError(f"output {output} is a folder; give a file path such as {output / 'predictions.jsonl'}")
    if not output.parent.is_dir():
        raise UserError(f"output {output}: the folder {output.parent} does not exist; create it first")
    try:
        with tempfile.TemporaryFile(dir=output.parent):
            pass
    except OSError as e:
        raise UserError(f"output {output}: cannot write in {output.parent} ({e.strerror})") from None
    folder = RunFolder(output)
    if not resume and folder.exists():
        raise UserError(
            f"{folder.path} holds an unfinished run writing {output}: continue it with --resume, "
            "or remove that folder to start over"
        )
    if not resume and output.exists():
        raise UserError(
            f"{output} already exists; remove it or choose another output (--resume continues only an unfinished run)"
        )
    if resume and output.exists() and not folder.exists():
        raise UserError(
            f"{output} already exists and no unfinished run is recorded beside it ({folder.path}): "
            "nothing to resume; remove it to predict again"
        )
    return folder


def _batch_params(model: str | Path | Classifier, batch_size: int | None, max_batch_tokens: int | None) -> dict:
    """The batch settings to set on the classifier, checked against its method before it loads."""
    if isinstance(model, Classifier):
        method_class, params = type(model), model.get_params(deep=False)
    else:
        config = read_config(Path(model))
        method_class, params = method(config["method"]).params, config["params"]
    names = {f.name: f for f in dataclasses.fields(method_class)}
    given: dict[str, Any] = {}
    for name, value in (("batch_size", batch_size), ("max_batch_tokens", max_batch_tokens)):
        if value is not None and "batch_size" not in names:
            raise UserError(f"a {method_class.method_name} classifier predicts without batches: {name} does not apply")
    if batch_size is not None:
        given["batch_size"] = batch_size
    if max_batch_tokens is not None:
        if "max_batch_tokens" not in names:
            raise UserError(
                f"a {method_class.method_name} classifier batches by batch_size only: max_batch_tokens applies "
                "to the embedding_head and encoder methods"
            )
        max_length = params.get("max_length", names["max_length"].default)
        if max_batch_tokens < max_length:
            raise UserError(
                f"max_batch_tokens {max_batch_tokens} is below the model's max_length {max_length}: "
                "a text that long could not fit any batch"
            )
        given["max_batch_tokens"] = max_batch_tokens
    return given


def _files_identity(path: Path) -> dict[str, Any]:
    """A file or folder as a resumed run must find it again: the path, and each file's size and
    modification time (cheap to read for any size; any rewrite changes them)."""
    path = path.resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for f in files:
        stat = f.stat()
        name = f.relative_to(path) if path.is_dir() else f.name
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return {"path": str(path), "files": len(files), "digest": digest.hexdigest()}


def _model_identity(model: str | Path | Classifier) -> dict[str, Any]:
    if isinstance(model, Classifier):  # in memory: its method, labels and parameters (weights are not compared)
        return {
            "method": model.method_name,
            "labels": model.labels_,
            "params": json.dumps(model.get_params(deep=False), default=str, sort_keys=True),
        }
    return _files_identity(Path(model))


def _check_same_run(recorded: dict[str, Any], current: dict[str, Any], folder: RunFolder) -> None:
    for key, what in RESUME_CHECKS.items():
        then, now = recorded.get(key), current[key]
        if then == now:
            continue
        if isinstance(now, dict) and isinstance(then, dict) and then.get("path") == now.get("path"):
            detail = f"{now['path']} changed since (a file's size or modification time)"
        elif isinstance(now, dict) and isinstance(then, dict):
            detail = f"{then.get('path', then)} then, {now.get('path', now)} now"
        else:
            detail = f"{then!r} then, {now!r} now"
        raise UserError(
            f"cannot resume: {what} differs from the run recorded in {folder.path} ({detail}); "
            f"rerun it as it was, or remove {folder.path} to start over"
        )


def _predict_chunks(
    clf: Classifier,
    source: TextSource,
    chunk_rows: int,
    mine: list[int],
    rows: int,
    schema: pa.Schema,
    folder: RunFolder | None,
    fmt: str,
    stream: IO[str],
    progress: bool,
) -> Counts:
    """Predicts this process's chunks, committing each to `folder` (or writing it to `stream`)."""
    from tqdm.auto import tqdm

    total = Counts()
    sink = None if folder is not None else open_sink(fmt, stream, schema)
    size = sum(min(chunk_rows, rows - k * chunk_rows) for k in mine)
    with tqdm(total=size, unit=" docs", desc="predict", disable=not progress, smoothing=0.1) as bar:
        for chunk in source.chunks(chunk_rows, wanted=set(mine)):
            table, counts = _predict(clf, chunk, schema)
            if folder is not None:
                folder.commit(chunk.index, table, counts)
            else:
                sink.write(table)
                stream.flush()
            total.add(counts)
            bar.update(counts.rows)
    if sink is not None:
        sink.close()
    return total


def _predict(clf: Classifier, chunk: Chunk, schema: pa.Schema) -> tuple[pa.Table, Counts]:
    counts = chunk.counts
    if not chunk.texts:  # every row of the chunk was bad: an empty part still commits the chunk
        return prediction_table([], [], None, schema), counts
    predictions = clf.predict_with_proba(chunk.texts)
    if hasattr(clf, "count_truncated"):
        counts.truncated = clf.count_truncated(chunk.texts)
    return prediction_table(chunk.ids, predictions.labels, predictions.proba, schema), counts


def _merge(folder: RunFolder, fmt: str, schema: pa.Schema, n_chunks: int, done: set[int]) -> tuple[Counts, int]:
    """Writes every part, in order, into the output; (counts over all of them, texts predicted now)."""
    total, now = Counts(), 0

    def write(f: IO[bytes]) -> None:
        nonlocal now
        target = f if fmt == "parquet" else io.TextIOWrapper(f, encoding="utf-8", newline="")
        sink = open_sink(fmt, target, schema)
        try:
            for index, (table, counts) in enumerate(folder.parts(n_chunks)):
                sink.write(table)
                total.add(counts)
                now += 0 if index in done else counts.texts
        finally:  # a failed merge leaves only a temporary file, which the next merge replaces
            sink.close()
        if target is not f:
            target.detach()  # the caller flushes and closes the file itself

    folder.finish(write)
    return total, now
