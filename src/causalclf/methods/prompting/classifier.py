"""Zero- and k-shot classification with a frozen LM: nothing is trained.

With a local model the labels are scored exactly as the instruction-tuned classifier's
``score`` mode scores them (shared `LMLabeler`), so probabilities and multi-label
thresholds work as for any method. With an OpenAI-compatible endpoint (`base_url`) the
model writes an answer that the verbalizer parses; answers naming no label are counted
(``invalid_rate_``) and become an abstention (None, or the empty set for multi-label).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from causalclf.backbones.loading import BackboneOptions, count_trainable, load_model, load_tokenizer
from causalclf.methods.base import Classifier, Predictions
from causalclf.methods.lm_answer.chat_api import ChatEndpoint
from causalclf.methods.lm_answer.labeler import Answering
from causalclf.methods.lm_answer.prompts import Shot
from causalclf.methods.prompting.params import PromptParams

SHOTS_FILE = "shots.json"


class PromptClassifier(PromptParams, Answering, Classifier):
    """Prompt a frozen causal LM, local or behind an OpenAI-compatible chat endpoint.

    Parameters: `PromptParams` (`causalclf explain prompt` lists them). After predicting:
    ``invalid_``, ``invalid_rate_`` and ``responses_`` (endpoint answers).
    """

    fitted_attributes: ClassVar[tuple[str, ...]] = ("shots_",)

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        """Verbalizer, prompt format and (local) frozen model for the fitted label space."""
        if self.uses_endpoint:
            tokenizer = None
        else:
            tokenizer = load_tokenizer(self.model)
            lm = load_model(
                self.model,
                "AutoModelForCausalLM",
                tokenizer=tokenizer,
                options=BackboneOptions(dtype=self.dtype, quantization=self.quantization, device=self.device),
            ).eval()
            for p in lm.parameters():
                p.requires_grad_(False)
        self.verbalizer_ = self._verbalizer()
        self.prompt_ = self._prompt_format(self.verbalizer_, tokenizer)
        self.labeler_ = None if tokenizer is None else self._labeler(lm, tokenizer)

    def _pick_shots(self, texts: Sequence[str], labels: Sequence) -> list[Shot]:
        """`k_shot` seeded examples per class, in a seeded order (no label-order bias)."""
        rng = random.Random(self.seed)
        chosen: list[int] = []
        for name in self.labels_:
            pool = [
                i for i, y in enumerate(labels) if (name in y if self.multi_label else y == name) and i not in chosen
            ]
            chosen += rng.sample(pool, min(self.k_shot, len(pool)))
        rng.shuffle(chosen)
        return [(texts[i], self.verbalizer_.verbalize(labels[i])) for i in chosen]

    # ------------------------------------------------------------------ API
    def fit(self, texts: Sequence[str], labels: Sequence, validation: tuple | None = None) -> PromptClassifier:
        """Store the label space and pick the examples; no weight changes.

        With validation data and a local model, multi-label thresholds are tuned on it.
        """
        texts = list(texts)
        self._init_labels(labels)
        self._setup()
        self.shots_ = self._pick_shots(texts, labels)
        if validation is not None and self.multi_label and not self.uses_endpoint:
            self.tune_thresholds_on(validation[0], validation[1], average=self.threshold_average)
        return self

    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        if self.labeler_ is None:
            raise NotImplementedError(
                "an endpoint answers in text, not label scores: predict_proba needs a "
                "local model (PromptClassifier(model=...))"
            )
        return self.labeler_.scores(list(texts), self.shots_)

    def predict_with_proba(self, texts: Sequence[str]) -> Predictions:
        """Labels per text (scores too with a local model); sets ``invalid_``, ``invalid_rate_``, ``responses_``."""
        self._check_fitted()
        texts = list(texts)
        if not self.uses_endpoint:
            scored, responses = super().predict_with_proba(texts), None
            answers = scored.labels
        else:
            responses = self._ask(texts)
            answers = [self.verbalizer_.parse(r) for r in responses]
            scored = Predictions(answers, None, None)
        invalid = np.array([a is None for a in answers], dtype=bool)
        empty = [] if self.multi_label else None
        self.invalid_, self.responses_ = invalid, responses
        self.invalid_rate_ = float(invalid.mean()) if len(texts) else 0.0
        return Predictions([empty if a is None else a for a in answers], scored.proba, scored.logits)

    def _ask(self, texts: list[str]) -> list[str]:
        from tqdm.auto import tqdm

        endpoint = ChatEndpoint(
            self.base_url,
            self.api_model,
            os.environ.get(self.api_key_env),
            self.timeout,
            self.max_retries,
            self.backoff,
            self.requests_per_second,
            self.max_new_tokens,
        )
        with endpoint:
            return [
                endpoint.complete(self.prompt_.messages(t, self.shots_))
                for t in tqdm(texts, desc="asking", unit="text", disable=len(texts) <= 1)
            ]

    @property
    def trainable_parameters(self) -> int:
        self._check_fitted()
        return 0 if self.labeler_ is None else count_trainable(self.labeler_.model)

    # ------------------------------------------------------------------ persistence
    def _save_weights(self, path: Path) -> None:
        (path / SHOTS_FILE).write_text(json.dumps([list(s) for s in self.shots_], indent=2))

    def _load_weights(self, path: Path) -> None:
        self._setup()
        self.shots_ = [tuple(s) for s in json.loads((path / SHOTS_FILE).read_text())]
