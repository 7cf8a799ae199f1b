"""distill: a TF-IDF teacher teaches a tiny BERT student; the loss is the documented one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.special import expit, softmax
from torch.nn import functional as F

from causalclf import EncoderClassifier, TfidfClassifier, distill
from causalclf.distillation.student import DistillResult, distillation_loss, mean_kl, soft_targets
from tests.methods._encoders import fast_training, one_thread, tiny_bert  # noqa: F401  (fixtures)
from tests.toy import toy_multi_label, toy_single_label

pytestmark = pytest.mark.usefixtures("one_thread")


def test_soft_targets_soften_the_teachers_logits():
    texts, labels = toy_single_label()
    teacher = TfidfClassifier().fit(texts, labels)
    logits = teacher.decision_function(texts)
    np.testing.assert_allclose(soft_targets(teacher, texts, 1.0), teacher.predict_proba(texts), atol=1e-9)
    np.testing.assert_allclose(soft_targets(teacher, texts, 3.0), softmax(logits / 3.0, axis=1), atol=1e-9)
    # Softer: the top class keeps less mass at T = 3 than at T = 1.
    assert (soft_targets(teacher, texts, 3.0).max(1) < teacher.predict_proba(texts).max(1)).all()

    multi = TfidfClassifier().fit(*toy_multi_label())
    np.testing.assert_allclose(soft_targets(multi, texts, 2.0), expit(multi.decision_function(texts) / 2.0))


def test_soft_targets_from_probabilities_only():
    texts, labels = toy_single_label()
    teacher = TfidfClassifier().fit(texts, labels)

    class ProbaOnly:  # a teacher that exposes no logits
        multi_label = False
        predict_proba = teacher.predict_proba

    np.testing.assert_allclose(soft_targets(ProbaOnly(), texts, 2.0), soft_targets(teacher, texts, 2.0), atol=1e-6)


def test_single_label_loss_matches_its_formula():
    torch.manual_seed(0)
    z, t = torch.randn(4, 3), torch.softmax(torch.randn(4, 3) / 2.0, -1)
    labels, has_label = torch.tensor([0, 2, 1, 0]), torch.tensor([1.0, 1.0, 0.0, 0.0])
    T, alpha = 2.0, 0.3
    kl = (t * (t.log() - torch.log_softmax(z / T, -1))).sum(-1) * T**2
    ce = F.cross_entropy(z, labels, reduction="none")
    expected = torch.where(has_label.bool(), alpha * ce + (1 - alpha) * kl, kl).mean()
    torch.testing.assert_close(distillation_loss(z, t, labels, has_label, T, alpha, False), expected)


def test_multi_label_loss_is_bce_against_teacher_probabilities():
    torch.manual_seed(0)
    z, t = torch.randn(4, 3), torch.rand(4, 3)
    labels, has_label = (torch.rand(4, 3) > 0.5).float(), torch.ones(4)
    T = 2.0
    q = torch.sigmoid(z / T)
    soft = -(t * q.log() + (1 - t) * (1 - q).log()).mean(-1) * T**2
    torch.testing.assert_close(distillation_loss(z, t, labels, has_label, T, 0.0, True), soft.mean())
    hard = F.binary_cross_entropy_with_logits(z, labels)
    torch.testing.assert_close(distillation_loss(z, t, labels, has_label, T, 1.0, True), hard)


def test_mean_kl():
    p = np.array([[0.5, 0.5], [0.9, 0.1]])
    assert mean_kl(p, p, False) == pytest.approx(0.0, abs=1e-9)
    q = np.array([[0.25, 0.75], [0.9, 0.1]])
    assert mean_kl(p, q, False) == pytest.approx((0.5 * np.log(2) + 0.5 * np.log(0.5 / 0.75)) / 2)
    assert mean_kl(p[:, :1], q[:, :1], True) == pytest.approx(mean_kl(p, q, False))  # Bernoulli == 2 classes


@pytest.mark.parametrize("task", [toy_single_label, toy_multi_label])
def test_student_moves_toward_its_teacher(tiny_bert, tmp_path, task):
    texts, labels = task()
    unlabeled, _ = task(seed=3)
    validation, test = task(seed=1), task(seed=2)
    teacher = TfidfClassifier(ngram_range=(1, 1)).fit(texts, labels, validation=validation)
    student = EncoderClassifier(model=tiny_bert, training=fast_training())
    result = distill(
        teacher,
        student,
        texts=texts,
        labels=labels,
        unlabeled_texts=unlabeled,
        validation=validation,
        test=test,
        temperature=2.0,
        alpha=0.5,
    )

    assert isinstance(result, DistillResult) and result.student is student
    assert result.evaluated_on == "test" and result.n_evaluated == len(test[0])
    assert result.n_train == len(texts) + len(unlabeled)
    assert result.kl_after < 0.5 * result.kl_before
    assert result.student_macro_f1 >= 0.8 and result.f1_fraction == pytest.approx(
        result.student_macro_f1 / result.teacher_macro_f1
    )
    assert result.teacher_docs_per_s > 0 and result.student_docs_per_s > 0
    assert result.speedup == pytest.approx(result.student_docs_per_s / result.teacher_docs_per_s)
    assert student.labels_ == teacher.labels_
    json.dumps(result.to_dict())  # the report is JSON-able
    student.save_pretrained(tmp_path)
    assert (
        np.abs(
            EncoderClassifier.from_pretrained(tmp_path).predict_proba(test[0]) - student.predict_proba(test[0])
        ).max()
        <= 1e-5
    )


def test_distils_from_unlabelled_texts_alone(tiny_bert):
    texts, labels = toy_single_label()
    teacher = TfidfClassifier().fit(texts, labels)
    unlabeled, _ = toy_single_label(seed=3)
    result = distill(
        teacher, EncoderClassifier(model=tiny_bert, training=fast_training(epochs=5)), texts=unlabeled, alpha=0.5
    )
    assert result.evaluated_on == "train" and result.teacher_macro_f1 is None and result.f1_fraction is None
    assert result.kl_after < result.kl_before


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="fitted"):
        distill(TfidfClassifier(), texts=["a b"])
    teacher = TfidfClassifier().fit(*toy_single_label())
    with pytest.raises(ValueError, match="alpha"):
        distill(teacher, texts=["a b"], alpha=2.0)
    with pytest.raises(ValueError, match="labels"):
        distill(teacher, texts=["a b", "c d"], labels=["sport"])
