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
from pathlib import Path
from typing import Sequence

import numpy as np

from causalclf.backbones import BackboneOptions, count_trainable, load_model, load_tokenizer
from causalclf.methods.base import Classifier, Predictions
from causalclf.methods.lm_answer.chat_api import ChatEndpoint
from causalclf.methods.lm_answer.labeler import LMLabeler
from causalclf.methods.lm_answer.prompts import PromptFormat, Shot
from causalclf.methods.lm_answer.verbalizers import Verbalizer

SHOTS_FILE = "shots.json"


class PromptClassifier(Classifier):
    """Prompt a frozen causal LM, local or behind an OpenAI-compatible chat endpoint.

    Parameters
    ----------
    model: local causal LM (registry name, folder or hub id); used when `base_url` is None.
    base_url: an OpenAI-compatible endpoint, e.g. "http://localhost:8000/v1".
    api_key_env: environment variable holding the endpoint's key (read at predict time,
        never stored; no key sends no Authorization header).
    api_model: the endpoint's model name.
    k_shot: worked examples per class shown before each document (seeded choice from
        the training set; a multi-label example counts for each of its labels).
    seed: picks the examples.
    verbalizer, prompt_template, show_labels, label_separator, none_label,
        length_normalize, max_length: as for `InstructionClassifier` (without a local
        tokenizer, `max_length` counts whitespace-separated words).
    batch_size: documents per forward pass (local model).
    max_new_tokens: answer budget at the endpoint.
    timeout, max_retries, backoff, requests_per_second: endpoint request handling
        (seconds per request; retries of 429/5xx/timeouts with exponential backoff from
        `backoff` seconds; None sends without a rate limit).
    dtype, device, quantization: local model placement.
    threshold_average: "macro" or "micro" F1 for multi-label thresholds tuned on validation.

    After `predict`: ``invalid_``, ``invalid_rate_`` and ``responses_`` (endpoint answers).
    """

    method_name = "prompt"

    def __init__(self, model: str | None = "smollm2-135m", base_url: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", api_model: str | None = None, k_shot: int = 0, seed: int = 0,
                 verbalizer: str | dict = "name", prompt_template: str | None = None, show_labels: bool = True,
                 label_separator: str = ", ", none_label: str = "none", length_normalize: bool = False,
                 max_length: int = 512, batch_size: int = 8, max_new_tokens: int = 32, timeout: float = 30.0,
                 max_retries: int = 5, backoff: float = 1.0, requests_per_second: float | None = None,
                 dtype: str = "auto", device: str = "auto", quantization: str | None = None,
                 threshold_average: str = "macro"):
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.api_model = api_model
        self.k_shot = k_shot
        self.seed = seed
        self.verbalizer = verbalizer
        self.prompt_template = prompt_template
        self.show_labels = show_labels
        self.label_separator = label_separator
        self.none_label = none_label
        self.length_normalize = length_normalize
        self.max_length = max_length
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.requests_per_second = requests_per_second
        self.dtype = dtype
        self.device = device
        self.quantization = quantization
        self.threshold_average = threshold_average

    @property
    def uses_endpoint(self) -> bool:
        return self.base_url is not None

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        """Verbalizer, prompt format and (local) frozen model for the fitted label space."""
        if self.uses_endpoint:
            if not self.api_model:
                raise ValueError("an endpoint (base_url) needs api_model, the endpoint's model name")
            tokenizer = None
        elif self.model is None:
            raise ValueError("give a local model or an endpoint base_url")
        else:
            tokenizer = load_tokenizer(self.model)
            lm = load_model(self.model, "AutoModelForCausalLM", tokenizer=tokenizer, options=BackboneOptions(
                dtype=self.dtype, quantization=self.quantization, device=self.device)).eval()
            for p in lm.parameters():
                p.requires_grad_(False)
        self.verbalizer_ = Verbalizer.build(self.label_space_, self.verbalizer, self.label_separator, self.none_label)
        self.prompt_ = PromptFormat(self.verbalizer_, tokenizer, self.prompt_template, self.show_labels,
                                    self.max_length)
        self.labeler_ = None if tokenizer is None else LMLabeler(
            lm, tokenizer, self.verbalizer_, self.prompt_, self.batch_size, self.length_normalize)

    def _pick_shots(self, texts: Sequence[str], labels: Sequence) -> list[Shot]:
        """`k_shot` seeded examples per class, in a seeded order (no label-order bias)."""
        rng = random.Random(self.seed)
        chosen: list[int] = []
        for name in self.labels_:
            pool = [i for i, y in enumerate(labels)
                    if (name in y if self.multi_label else y == name) and i not in chosen]
            chosen += rng.sample(pool, min(self.k_shot, len(pool)))
        rng.shuffle(chosen)
        return [(texts[i], self.verbalizer_.verbalize(labels[i])) for i in chosen]

    def _fitted(self) -> None:
        if not hasattr(self, "shots_"):
            raise RuntimeError("this PromptClassifier is not fitted yet: call fit() or from_pretrained()")

    # ------------------------------------------------------------------ API
    def fit(self, texts: Sequence[str], labels: Sequence, validation: tuple | None = None) -> "PromptClassifier":
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
        self._fitted()
        if self.labeler_ is None:
            raise NotImplementedError("an endpoint answers in text, not label scores: predict_proba needs a "
                                      "local model (PromptClassifier(model=...))")
        return self.labeler_.scores(list(texts), self.shots_)

    def predict_with_proba(self, texts: Sequence[str]) -> Predictions:
        """Labels per text (scores too with a local model); sets ``invalid_``, ``invalid_rate_``, ``responses_``."""
        self._fitted()
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

        endpoint = ChatEndpoint(self.base_url, self.api_model, os.environ.get(self.api_key_env), self.timeout,
                                self.max_retries, self.backoff, self.requests_per_second, self.max_new_tokens)
        with endpoint:
            return [endpoint.complete(self.prompt_.messages(t, self.shots_))
                    for t in tqdm(texts, desc="asking", unit="text", disable=len(texts) <= 1)]

    @property
    def trainable_parameters(self) -> int:
        self._fitted()
        return 0 if self.labeler_ is None else count_trainable(self.labeler_.model)

    # ------------------------------------------------------------------ persistence
    def _save_weights(self, path: Path) -> None:
        (path / SHOTS_FILE).write_text(json.dumps([list(s) for s in self.shots_], indent=2))

    def _load_weights(self, path: Path) -> None:
        self._setup()
        self.shots_ = [tuple(s) for s in json.loads((path / SHOTS_FILE).read_text())]
