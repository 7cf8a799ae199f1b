"""Config -> data -> fit -> save -> evaluate on test: what `causalclf train` runs.

Under ``accelerate launch`` or ``torchrun`` every process trains (the training is collective),
and only the main process writes the model folder and the run; the others wait for it.
A trainable method checkpoints into ``<output_dir>/checkpoints`` (deleted once the run is
written), from which ``resume`` continues an interrupted run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from pathlib import Path

from causalclf import processes
from causalclf.data.labels import LabelSpace
from causalclf.distillation.config import DistillConfig
from causalclf.errors import ConfigError
from causalclf.evaluation.calibration import expected_calibration_error
from causalclf.evaluation.metrics import encode_truth, unseen_labels
from causalclf.evaluation.runs import save_run
from causalclf.resources import PeakMemory
from causalclf.run_config import RunConfig
from causalclf.training.config import TrainingConfig

log = logging.getLogger(__name__)

MODEL_DIR = "model"
CHECKPOINT_DIR = "checkpoints"


def load_splits(config: RunConfig):
    """The config's dataset, with each split subsampled (stratified, seeded) if asked."""
    from causalclf.data import load_dataset

    ds = load_dataset(config.data)
    return ds, config.slice(ds)


def evaluate(
    clf, texts, labels, run_dir: str | Path, name: str, info: dict | None = None, memory: PeakMemory | None = None
) -> dict:
    """Predict `texts` (timed as a whole: the very predictions scored), then write a run directory.

    `memory` watches the whole run (fit and predict); without it, the prediction alone is watched.
    """
    with PeakMemory() as predicting:
        start = time.perf_counter()
        predictions = clf.predict_with_proba(texts)
        seconds = time.perf_counter() - start
    watched = memory or predicting
    info = dict(info or {}, peak_memory_mib=max(watched.peak(), predicting.mib), peak_memory_device=watched.device)
    if getattr(clf, "temperature_", None) is not None:  # report test calibration before and after scaling
        truth, unseen = encode_truth(labels, clf.label_space_)
        temperature, clf.temperature_ = clf.temperature_, None
        info["ece_uncalibrated"] = expected_calibration_error(
            truth[~unseen], clf.proba_from_logits(predictions.logits)[~unseen]
        )
        clf.temperature_ = temperature
    info.update(
        method=clf.method_name,
        trainable_parameters=_trainable(clf),
        docs_per_second=len(texts) / seconds if seconds > 0 else None,
        n_test=len(texts),
    )
    truncated = clf.count_truncated(texts)
    if truncated is not None:
        info["truncated_test"] = truncated
        _say_truncated(truncated, len(texts), "evaluated", clf.get_params()["max_length"])
    return save_run(
        run_dir,
        name=name,
        y_true=list(labels),
        y_pred=predictions.labels,
        label_space=clf.label_space_,
        proba=predictions.proba,
        info=info,
    )


def _say_truncated(n: int, total: int, what: str, max_length: int) -> None:
    if n:
        print(
            f"{n:,} of {total:,} {what} texts ({n / total:.0%}) are longer than max_length={max_length} tokens "
            "and were cut (their beginning is kept)"
        )


def _trainable(clf) -> int | None:
    try:
        return int(clf.trainable_parameters)
    except (RuntimeError, AttributeError):
        return None


def run_training(config: RunConfig, resume: bool = False) -> dict:
    """Load the config's data, then train, save and evaluate; returns the test metrics (on the main process)."""
    ds, splits = load_splits(config)
    print(ds.summary())
    return fit_and_evaluate(config, splits, resume)


def fit_and_evaluate(config: RunConfig, splits: dict, resume: bool = False) -> dict:
    """Fit on splits["train"] (validating on "validation"), save, and evaluate on "test".

    `resume` continues from the run's checkpoints; without it, a run folder holding checkpoints
    is an error. Returns the test metrics on the main process, an empty dict on the others.
    """
    out = Path(config.output_dir)
    name = config.name or out.name
    train, val, test = splits["train"], splits.get("validation"), splits.get("test")
    val = _classes_only_outside_training(train, val, test)
    clf = config.build()
    print(
        f"training {config.method} on {len(train)} texts" + (f", validating on {len(val)}" if val is not None else "")
    )
    with PeakMemory() as memory:
        return _fit_and_evaluate(config, clf, train, val, test, out, name, memory, resume)


def _classes_only_outside_training(train, val, test):
    """Warn, before any training, about classes that only the validation or test split holds.

    The model cannot learn them: their test items are scored as wrong (and counted), and their
    validation items are left out, since they cannot guide the choice of weights. Returns the
    validation split to use.
    """
    known = LabelSpace.from_labels(train.labels)
    for split, part in (("validation", val), ("test", test)):
        missing = {} if part is None else unseen_labels(part.labels, known)
        if missing:
            named = ", ".join(f"{label!r} ({n} item{'s' if n > 1 else ''})" for label, n in missing.items())
            fate = "left out of validation" if split == "validation" else "scored as wrong, and named in the metrics"
            log.warning(
                "class(es) never seen in training but present in the %s split: %s; the model cannot "
                "predict them, so these items are %s",
                split,
                named,
                fate,
            )
    if val is None:
        return None
    _, unseen = encode_truth(val.labels, known)
    return val.subset([i for i, bad in enumerate(unseen) if not bad]) if unseen.any() else val


def _fit_and_evaluate(
    config: RunConfig, clf, train, val, test, out: Path, name: str, memory: PeakMemory, resume: bool
) -> dict:
    layout = processes.current()
    with _checkpointing(clf, out / CHECKPOINT_DIR, resume):
        start = time.perf_counter()
        clf.fit(train.texts, train.labels, validation=None if val is None else (val.texts, val.labels))
        train_seconds = time.perf_counter() - start
    calibration = None
    if config.calibrate:  # on every process: a distilled student's teacher must be the same everywhere
        if val is None:
            raise ConfigError("calibrate: true needs a validation split to fit the temperature on")
        calibration = clf.calibrate(val.texts, val.labels)
    try:
        metrics = (
            _save_and_evaluate(config, clf, train, test, out, name, memory, calibration, train_seconds)
            if layout.is_main
            else {}
        )
    finally:
        layout.wait()  # released even when the main process fails, so that no process waits forever
    if config.distill and test is not None:
        student_dir = Path(config.distill.output_dir or out / "student")
        metrics["distill"] = distill_and_evaluate(
            clf,
            {"train": train, "validation": val, "test": test},
            config.distill,
            student_dir,
            f"{name}-student",
            str(out / MODEL_DIR),
        )
    if layout.is_main:
        shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)  # the run is written: nothing left to resume
    return metrics


@contextlib.contextmanager
def _checkpointing(clf, folder: Path, resume: bool):
    """While fitting, a trainable method checkpoints into `folder` (unless its training names a
    checkpoint_dir) and resumes if asked; its parameters are put back after, so the saved model
    does not carry this run's paths."""
    if "training" not in clf.get_params(deep=False):  # TF-IDF, prompting: nothing to checkpoint
        yield
        return
    given = clf.training
    settings = vars(given) if isinstance(given, TrainingConfig) else dict(given or {})
    clf.training = {
        **settings,
        "checkpoint_dir": settings.get("checkpoint_dir") or str(folder),
        "resume": resume or settings.get("resume", False),
    }
    try:
        yield
    finally:
        clf.training = given


def _save_and_evaluate(
    config: RunConfig, clf, train, test, out: Path, name: str, memory: PeakMemory, calibration, train_seconds: float
) -> dict:
    """The main process's part: the model folder, then the test run."""
    clf.save_pretrained(out / MODEL_DIR)
    info = {
        "calibration": calibration,
        "model": clf.get_params().get("model"),
        "dataset": _data_name(config.data),
        "train_seconds": train_seconds,
        "n_train": len(train),
        "seed": None,
    }
    truncated = clf.count_truncated(train.texts)
    if truncated is not None:
        info["truncated_train"] = truncated
        _say_truncated(truncated, len(train), "training", clf.get_params()["max_length"])
    info.update(clf.training_record())  # the seed, how training went, what the method chose
    if info.get("training", {}).get("collapsed"):
        log.warning(
            "every training attempt collapsed (%s): the model predicts no better than a constant",
            info["training"]["attempts"],
        )
    if test is None:
        log.warning("the dataset has no test split: nothing evaluated")
        return {"info": info}
    return evaluate(clf, test.texts, test.labels, out, name, info, memory)


def distill_and_evaluate(teacher, splits: dict, spec: DistillConfig, out: Path, name: str, teacher_dir: str) -> dict:
    """Distil `teacher` into the encoder student `spec` describes, on ``splits["train"]`` (and `spec`'s unlabelled
    texts), picking its weights on ``splits["validation"]``; the main process saves it in ``out/model``, scores it
    on ``splits["test"]`` when there is one (the run goes in `out`), and writes ``out/distill.json``. What
    `causalclf distill` and a run config's ``distill:`` section both run."""
    from causalclf.data import read_texts
    from causalclf.distillation.student import distill
    from causalclf.methods.encoder.classifier import EncoderClassifier

    train, val, test = splits["train"], splits.get("validation"), splits.get("test")
    unlabeled = read_texts(spec.unlabeled)[0] if spec.unlabeled else None
    student = EncoderClassifier(**spec.student)
    result = distill(
        teacher,
        student,
        texts=train.texts,
        labels=train.labels,
        unlabeled_texts=unlabeled,
        validation=None if val is None else (val.texts, val.labels),
        test=None if test is None else (test.texts, test.labels),
        temperature=spec.temperature,
        alpha=spec.alpha,
    )
    record = result.to_dict()
    layout = processes.current()
    try:
        if layout.is_main:
            result.student.save_pretrained(out / MODEL_DIR)
            if test is not None:
                evaluate(
                    result.student, test.texts, test.labels, out, name, {"model": student.model, "teacher": teacher_dir}
                )
            (out / "distill.json").write_text(json.dumps(record, indent=2, default=str))
            if result.f1_fraction is not None:
                print(
                    f"distilled student keeps {result.f1_fraction:.1%} of the teacher's macro-F1 "
                    f"at {result.speedup:.1f}x its throughput"
                )
    finally:
        layout.wait()
    return {"student_dir": str(out), **record}


def _data_name(data) -> str:
    if isinstance(data, dict):
        return str(data.get("name") or data.get("path") or data.get("train") or "data")
    return str(data)
