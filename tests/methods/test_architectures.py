"""The architecture matrix: every decoder family of `tests.architectures.FAMILIES`, tiny and random, through
what a user runs on it.

Per family: the embedding head with LoRA trains and predicts; its predictions do not depend on padding,
packing or the lean inference copy; it saves and loads to the same probabilities; it exports to a
checkpoint that transformers' `AutoModelForSequenceClassification` loads to the same probabilities
(where transformers has that class; elsewhere the export refuses with a message saying why); and
instruction tuning in score mode trains and round-trips. The README's list of tested families is
generated from the same table (`test_the_readme_lists_the_families_tested`).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from causalclf import EmbeddingHeadClassifier, InstructionClassifier
from causalclf.doctor import diagnose
from causalclf.errors import ConfigError
from causalclf.export import ExportError, export
from causalclf.methods import load_classifier
from tests.architectures import FAMILIES, LORA, build_tiny, families_markdown
from tests.conftest import REPO
from tests.methods._encoders import one_thread  # noqa: F401  (fixture)
from tests.toy import toy_single_label

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS = dict(
    max_steps=3,
    batch_size=4,
    learning_rate=5e-3,
    progress_bar=False,
    logging_steps=1000,
    early_stopping_patience=None,
    max_restarts=0,
)
MIXED = ["the match", "money and bank market with the stock price today", "film", "a vote on the law in the party"]


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request, tmp_path_factory):
    return request.param, str(build_tiny(request.param, tmp_path_factory.mktemp(request.param)))


@pytest.fixture(scope="module")
def head(family):
    model_type, model = family
    return EmbeddingHeadClassifier(
        model=model, lora={"r": 4, **LORA.get(model_type, {})}, max_length=16, batch_size=4, training=STEPS
    ).fit(*toy_single_label(4))


def test_the_embedding_head_predicts_the_same_whatever_the_padding_packing_or_inference_copy(head):
    proba = head.predict_proba(MIXED)
    assert proba.shape == (len(MIXED), len(head.labels_)) and np.allclose(proba.sum(1), 1)
    np.testing.assert_allclose(head.proba_from_logits(head._logits_of(head.model_, MIXED)), proba, atol=1e-5)
    for settings in ({"packing": False}, {"padding_side": "left", "packing": False}, {"batch_size": 1}):
        with head.temporary_params(**settings):
            np.testing.assert_allclose(head.predict_proba(MIXED), proba, atol=1e-5, err_msg=str(settings))


def test_the_embedding_head_saves_loads_and_passes_the_doctor(head, tmp_path):
    head.save_pretrained(tmp_path / "model")
    np.testing.assert_allclose(
        load_classifier(tmp_path / "model").predict_proba(MIXED), head.predict_proba(MIXED), atol=1e-5
    )
    failed = [c for c in diagnose(head, MIXED) if c.passed is False]
    assert not failed, failed


def test_the_export_loads_in_transformers_with_the_same_probabilities(family, head, tmp_path):
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

    from tests.test_export import _automodel_proba

    model_type, _ = family
    if model_type not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES:
        with pytest.raises(ExportError, match=f"transformers has no sequence-classification class for {model_type}"):
            export(head, tmp_path / "out")
        assert not (tmp_path / "out").exists()
        return
    export(head, tmp_path / "out")
    np.testing.assert_allclose(_automodel_proba(tmp_path / "out", MIXED, False), head.predict_proba(MIXED), atol=1e-4)


def test_instruction_tuning_scores_labels_and_round_trips(family, tmp_path):
    model_type, model = family
    clf = InstructionClassifier(
        model=model, lora={"r": 4, **LORA.get(model_type, {})}, max_length=16, batch_size=4, training=STEPS
    )
    clf.fit(*toy_single_label(4))
    proba = clf.predict_proba(MIXED)
    assert np.allclose(proba.sum(1), 1)
    clf.save_pretrained(tmp_path / "model")
    np.testing.assert_allclose(load_classifier(tmp_path / "model").predict_proba(MIXED), proba, atol=1e-5)


def test_settings_peft_cannot_apply_to_a_family_are_refused_before_training(tmp_path):
    model = str(build_tiny("mixtral", tmp_path / "mixtral"))
    clf = EmbeddingHeadClassifier(model=model, lora={"r": 4, "lora_dropout": 0.1}, training=STEPS)
    with pytest.raises(ConfigError, match="lora: PEFT cannot adapt .* lora_dropout"):
        clf.fit(*toy_single_label(4))
    assert not hasattr(clf, "model_")  # nothing trained


def test_the_readme_lists_the_families_tested():
    readme = (REPO / "README.md").read_text()
    found = re.search(
        r"<!-- families: generated from tests/architectures.py -->\n(.*?)\n<!-- /families -->", readme, re.S
    )
    assert found, "README.md lost its families block"
    assert found.group(1) == families_markdown(), (
        "README.md's families differ from tests/architectures.py: paste this in their place:\n" + families_markdown()
    )
