"""Knowledge distillation: a slow fitted classifier teaches a small encoder student.

The student learns the teacher's softened probabilities (Hinton et al., 2015): the
teacher's logits divided by a temperature T > 1 spread its probability mass over the
runner-up classes, which says more per example than a hard label. The loss is

    single-label:  alpha * CE(z, y) + (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(z / T))
    multi-label:   alpha * BCE(z, y) + (1 - alpha) * T^2 * BCE(z / T, sigmoid(t / T))

per example (t: teacher logits, z: student logits, y: the true label); examples without a
label (the optional unlabelled texts) take the distillation term alone. T^2 keeps the soft
term's gradients on the same scale as the hard term's whatever T is.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import torch
from scipy.special import expit, logit, softmax
from torch import nn
from torch.nn import functional as F

from causalclf.distillation.config import DistillConfig
from causalclf.errors import ConfigError
from causalclf.methods.base import Classifier
from causalclf.methods.encoder.classifier import EncoderClassifier
from causalclf.training.loop import TrainResult

_EPS = 1e-7  # probabilities are clipped here before logs: a saturated teacher gives exact 0s


@dataclass
class DistillResult:
    """The fitted student and how it compares with its teacher on the same texts."""

    student: EncoderClassifier
    """The fitted student (save it with ``student.save_pretrained``)."""
    evaluated_on: str
    """Which texts the comparison uses: "test", "validation" or "train"."""
    n_evaluated: int
    """Number of texts the comparison uses."""
    teacher_macro_f1: float | None
    """Teacher's macro-F1 on those texts (None when they carry no labels)."""
    student_macro_f1: float | None
    """Student's macro-F1 on the same texts."""
    f1_fraction: float | None
    """student_macro_f1 / teacher_macro_f1: the share of the teacher's quality kept."""
    teacher_docs_per_s: float
    """Teacher's `predict_proba` throughput on those texts."""
    student_docs_per_s: float
    """Student's `predict_proba` throughput on the same texts, in the same run."""
    speedup: float
    """student_docs_per_s / teacher_docs_per_s."""
    kl_before: float
    """Mean KL(teacher || student) of their probabilities (T = 1) before training."""
    kl_after: float
    """The same after training: lower means the student imitates its teacher better."""
    temperature: float
    alpha: float
    n_train: int
    """Texts the student learned from (labelled plus unlabelled)."""
    train_result: TrainResult = field(repr=False)

    def to_dict(self) -> dict:
        """Everything but the student model, JSON-able (the train history included)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("student", "train_result")}
        result = self.train_result
        out["train"] = {
            "steps": result.steps,
            "seconds": result.train_seconds,
            "best_score": result.best_score,
            "best_step": result.best_step,
            "stopped_early": result.stopped_early,
        }
        return out


def soft_targets(teacher: Classifier, texts: Sequence[str], temperature: float) -> np.ndarray:
    """Teacher probabilities at `temperature`, from its logits when it exposes them."""
    if hasattr(teacher, "decision_function"):
        logits = teacher.decision_function(texts)
    else:  # probabilities only: recover logits up to a per-row constant, which T ignores
        proba = np.clip(teacher.predict_proba(texts), _EPS, 1 - _EPS)
        logits = logit(proba) if teacher.multi_label else np.log(proba)
    logits = np.asarray(logits, dtype=np.float64) / temperature
    return expit(logits) if teacher.multi_label else softmax(logits, axis=1)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_proba: torch.Tensor,
    labels: torch.Tensor,
    has_label: torch.Tensor,
    temperature: float,
    alpha: float,
    multi_label: bool,
) -> torch.Tensor:
    """The mean per-example loss of the module docstring.

    `teacher_proba` are already softened at `temperature`; `labels` are class ids
    (single-label) or multi-hot rows, ignored where `has_label` is 0.
    """
    z = student_logits.float()
    t2 = temperature**2
    if multi_label:
        soft = t2 * F.binary_cross_entropy_with_logits(z / temperature, teacher_proba, reduction="none").mean(-1)
        hard = F.binary_cross_entropy_with_logits(z, labels.float(), reduction="none").mean(-1)
    else:
        log_q = F.log_softmax(z / temperature, dim=-1)
        soft = t2 * F.kl_div(log_q, teacher_proba, reduction="none").sum(-1)
        hard = F.cross_entropy(z, labels.long(), reduction="none")
    labelled = has_label.bool()
    return torch.where(labelled, alpha * hard + (1 - alpha) * soft, soft).mean()


class DistillationObjective(nn.Module):
    """Wraps the student model (kept as ``.model``) so `training.train` optimises the distillation loss."""

    def __init__(self, model: nn.Module, temperature: float, alpha: float, multi_label: bool):
        super().__init__()
        self.model = model
        self.temperature, self.alpha, self.multi_label = temperature, alpha, multi_label

    def forward(self, input_ids, attention_mask, teacher_proba, labels, has_label):
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        loss = distillation_loss(
            logits, teacher_proba, labels, has_label, self.temperature, self.alpha, self.multi_label
        )
        return {"loss": loss, "logits": logits}


def mean_kl(p: np.ndarray, q: np.ndarray, multi_label: bool) -> float:
    """Mean over rows of KL(p || q): categorical, or summed per-class Bernoulli for multi-label."""
    p, q = np.clip(p, _EPS, 1 - _EPS), np.clip(q, _EPS, 1 - _EPS)
    kl = p * np.log(p / q)
    if multi_label:
        kl = kl + (1 - p) * np.log((1 - p) / (1 - q))
    return float(kl.sum(axis=1).mean())


def _timed_proba(clf: Classifier, texts: Sequence[str]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    proba = clf.predict_proba(texts)
    return proba, len(texts) / (time.perf_counter() - start)


def _macro_f1(clf: Classifier, proba: np.ndarray, labels: Sequence) -> float:
    from sklearn.metrics import f1_score

    space = clf.label_space_
    return float(f1_score(space.encode(labels), space.encode(clf.decide(proba)), average="macro", zero_division=0))


def distill(
    teacher: Classifier,
    student: EncoderClassifier | None = None,
    *,
    texts: Sequence[str],
    labels: Sequence | None = None,
    unlabeled_texts: Sequence[str] | None = None,
    validation: tuple | None = None,
    test: tuple | None = None,
    temperature: float = DistillConfig.temperature,
    alpha: float = DistillConfig.alpha,
) -> DistillResult:
    """Fit `student` to imitate the fitted `teacher`, and measure what is kept and gained.

    Args:
        teacher: any fitted causalclf Classifier (its logits are used when it has them).
        student: an unfitted `EncoderClassifier` whose params (model, lora, max_length,
            training...) shape the student; None means ``EncoderClassifier()`` (minilm-l6).
            It is fitted in place and returned in the result.
        texts: training texts, scored by the teacher.
        labels: their true labels (same format as `fit`); None distils from soft targets only.
        unlabeled_texts: more texts for the teacher to label softly (no hard-label term).
        validation: (texts, labels) to pick the best student weights and tune multi-label
            thresholds.
        test: (texts, labels) on which teacher and student are compared; defaults to
            `validation`, else the training texts.
        temperature: T > 0 dividing the teacher's logits (T > 1 softens them).
        alpha: weight of the hard-label loss on labelled texts (0: soft targets only).
    """
    if not hasattr(teacher, "label_space_"):
        raise ConfigError("the teacher must be a fitted Classifier: call fit() or from_pretrained() first")
    DistillConfig(temperature=temperature, alpha=alpha)  # their types and ranges, declared there
    texts, unlabeled = list(texts), list(unlabeled_texts or [])
    if labels is not None and len(labels) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    student = EncoderClassifier() if student is None else student
    space, multi = teacher.label_space_, teacher.multi_label
    if test is not None:
        eval_texts, eval_labels, evaluated_on = list(test[0]), test[1], "test"
    elif validation is not None:
        eval_texts, eval_labels, evaluated_on = list(validation[0]), validation[1], "validation"
    else:
        eval_texts, eval_labels, evaluated_on = texts, labels, "train"

    all_texts = texts + unlabeled
    targets = soft_targets(teacher, all_texts, temperature).astype(np.float32)
    # The student's label space is the teacher's, whatever subset of labels `labels` shows.
    student.start(space)  # the student's model is loaded once: it is also the first training attempt
    untrained_proba = student.predict_proba(eval_texts)

    n_labelled = len(texts) if labels is not None else 0
    y = space.encode(labels) if labels is not None else None
    blank = np.zeros(len(space), np.float32) if multi else np.int64(0)  # masked out by has_label
    rows = [
        dict(row, teacher_proba=target, labels=y[i] if i < n_labelled else blank, has_label=np.float32(i < n_labelled))
        for i, (row, target) in enumerate(zip(student.encode(all_texts), targets))
    ]
    student.fit_module(rows, validation, lambda model: DistillationObjective(model, temperature, alpha, multi))
    train_result = student.train_result_

    # Timed back to back, so that both see the same load on a shared machine.
    teacher_proba, teacher_speed = _timed_proba(teacher, eval_texts)
    student_proba, student_speed = _timed_proba(student, eval_texts)
    teacher_f1 = student_f1 = fraction = None
    if eval_labels is not None:
        teacher_f1 = _macro_f1(teacher, teacher_proba, eval_labels)
        student_f1 = _macro_f1(student, student_proba, eval_labels)
        fraction = student_f1 / teacher_f1 if teacher_f1 > 0 else None
    return DistillResult(
        student=student,
        evaluated_on=evaluated_on,
        n_evaluated=len(eval_texts),
        teacher_macro_f1=teacher_f1,
        student_macro_f1=student_f1,
        f1_fraction=fraction,
        teacher_docs_per_s=teacher_speed,
        student_docs_per_s=student_speed,
        speedup=student_speed / teacher_speed,
        kl_before=mean_kl(teacher_proba, untrained_proba, multi),
        kl_after=mean_kl(teacher_proba, student_proba, multi),
        temperature=temperature,
        alpha=alpha,
        n_train=len(all_texts),
        train_result=train_result,
    )
