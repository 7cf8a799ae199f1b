"""Config -> data -> fit -> save -> evaluate on test: what `causalclf train` runs."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from causalclf.config import RunConfig
from causalclf.resources import PeakMemory

log = logging.getLogger(__name__)

MODEL_DIR = "model"


def load_splits(config: RunConfig):
    """The config's dataset, with each split subsampled (stratified, seeded) if asked."""
    from causalclf.data import load_dataset

    ds = load_dataset(config.data)
    sizes = {"train": config.train_size, "validation": config.validation_size, "test": config.test_size}
    splits = {}
    for name, part in ds.items():
        n = sizes.get(name)
        splits[name] = part.sample(n) if n is not None and n < len(part) else part
    return ds, splits


def evaluate(clf, texts, labels, run_dir: str | Path, name: str, info: dict | None = None,
             memory: PeakMemory | None = None) -> dict:
    """Predict `texts` (timed as a whole: the very predictions scored), then write a run directory.

    `memory` watches the whole run (fit and predict); without it, the prediction alone is watched.
    """
    from causalclf.evaluation import save_run

    with PeakMemory() as predicting:
        start = time.perf_counter()
        predictions = clf.predict_with_proba(texts)
        seconds = time.perf_counter() - start
    watched = memory or predicting
    info = dict(info or {}, peak_memory_mib=max(watched.peak(), predicting.mib), peak_memory_device=watched.device)
    if getattr(clf, "temperature_", None) is not None:  # report test calibration before and after scaling
        from causalclf.evaluation import expected_calibration_error

        temperature, clf.temperature_ = clf.temperature_, None
        info["ece_uncalibrated"] = expected_calibration_error(clf.label_space_.encode(labels),
                                                              clf.proba_from_logits(predictions.logits))
        clf.temperature_ = temperature
    info.update(method=clf.method_name, trainable_parameters=_trainable(clf),
                docs_per_second=len(texts) / seconds if seconds > 0 else None, n_test=len(texts))
    return save_run(run_dir, name=name, y_true=list(labels), y_pred=predictions.labels,
                    label_space=clf.label_space_, proba=predictions.proba, info=info)


def _trainable(clf) -> int | None:
    try:
        return int(clf.trainable_parameters)
    except (RuntimeError, AttributeError):
        return None


def run_training(config: RunConfig) -> dict:
    """Load the config's data, then train, save and evaluate; returns the test metrics."""
    ds, splits = load_splits(config)
    print(ds.summary())
    return fit_and_evaluate(config, splits)


def fit_and_evaluate(config: RunConfig, splits: dict) -> dict:
    """Fit on splits["train"] (validating on "validation"), save, and evaluate on "test"."""
    out = Path(config.output_dir)
    name = config.name or out.name
    train, val, test = splits["train"], splits.get("validation"), splits.get("test")
    clf = config.build()
    print(f"training {config.method} on {len(train)} texts"
          + (f", validating on {len(val)}" if val is not None else ""))
    with PeakMemory() as memory:
        return _fit_and_evaluate(config, clf, train, val, test, out, name, memory)


def _fit_and_evaluate(config: RunConfig, clf, train, val, test, out: Path, name: str, memory: PeakMemory) -> dict:
    start = time.perf_counter()
    clf.fit(train.texts, train.labels, validation=None if val is None else (val.texts, val.labels))
    train_seconds = time.perf_counter() - start
    calibration = None
    if config.calibrate:
        if val is None:
            raise ValueError("calibrate: true needs a validation split to fit the temperature on")
        calibration = clf.calibrate(val.texts, val.labels)
    clf.save_pretrained(out / MODEL_DIR)
    seed = clf._training_config().seed if hasattr(clf, "_training_config") else None
    info = {"calibration": calibration, "model": clf.get_params().get("model"), "dataset": _data_name(config.data),
            "train_seconds": train_seconds, "n_train": len(train), "seed": seed}
    if getattr(clf, "layer_scores_", None):  # layer: best; which block won, and each block's validation F1
        info["layer"], info["layer_scores"] = clf.layer_, clf.layer_scores_
    result = getattr(clf, "train_result_", None)
    if result is not None:
        info["training"] = {"steps": result.steps, "best_validation_score": result.best_score,
                            "attempts": result.attempts, "collapsed": result.collapsed}
        if result.collapsed:
            log.warning("every training attempt collapsed (%s): the model predicts no better than a constant",
                        result.attempts)
    if test is None:
        log.warning("the dataset has no test split: nothing evaluated")
        return {"info": info}
    metrics = evaluate(clf, test.texts, test.labels, out, name, info, memory)
    if config.distill:
        metrics["distill"] = _distill(config, clf, train, val, test, out)
    return metrics


def _distill(config: RunConfig, teacher, train, val, test, out: Path) -> dict:
    from causalclf.methods.distill import distill
    from causalclf.methods.encoder import EncoderClassifier

    spec = config.distill
    unlabeled = None
    if spec.unlabeled:
        from causalclf.data import read_texts

        unlabeled, _ = read_texts(spec.unlabeled)
    student = EncoderClassifier(**spec.student)
    result = distill(teacher, student, texts=train.texts, labels=train.labels, unlabeled_texts=unlabeled,
                     validation=None if val is None else (val.texts, val.labels),
                     test=(test.texts, test.labels), temperature=spec.temperature, alpha=spec.alpha)
    student_dir = Path(spec.output_dir or out / "student")
    result.student.save_pretrained(student_dir / MODEL_DIR)
    evaluate(result.student, test.texts, test.labels, student_dir, f"{config.name or out.name}-student",
             {"model": student.model, "teacher": str(out / MODEL_DIR)})
    print(f"distilled student keeps {result.f1_fraction:.1%} of the teacher's macro-F1 "
          f"at {result.speedup:.1f}x its throughput")
    return {"student_dir": str(student_dir), **result.to_dict()}


def _data_name(data) -> str:
    if isinstance(data, dict):
        return str(data.get("name") or data.get("path") or data.get("train") or "data")
    return str(data)
