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
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, Sequence

import numpy as np

from causalclf.backbones import BackboneOptions, count_trainable, load_model, load_tokenizer
from causalclf.config import ConfigError, model_reference, non_negative, positive
from causalclf.methods.base import Classifier, Predictions
from causalclf.methods.lm_answer.chat_api import ChatEndpoint
from causalclf.methods.lm_answer.labeler import AnswerSettings
from causalclf.methods.lm_answer.prompts import Shot
from causalclf.methods.transformer import DTYPES

SHOTS_FILE = "shots.json"


@dataclass(repr=False, eq=False)
class PromptClassifier(Classifier, AnswerSettings):
    """Prompt a frozen causal LM, local or behind an OpenAI-compatible chat endpoint.

    Parameters are the fields below and those of `AnswerSettings` (verbalizer, prompt...);
    `causalclf explain prompt` lists them all. Without a local tokenizer, `max_length`
    counts whitespace-separated words. After predicting: ``invalid_``, ``invalid_rate_`` and
    ``responses_`` (endpoint answers).
    """

    method_name: ClassVar[str] = "prompt"
    fitted_attributes: ClassVar[tuple[str, ...]] = ("shots_",)

    model: str | None = field(default="smollm2-135m", metadata={
        "help": "A local causal LM (registry name, folder or cached hub id); used when base_url is null.",
        "check": model_reference("causal")})
    base_url: str | None = field(default=None, metadata={
        "help": "An OpenAI-compatible endpoint, e.g. http://localhost:8000/v1; its answers are parsed back into "
                "labels (no probabilities)."})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={
        "help": "Environment variable holding the endpoint's key (read at predict time, never stored; unset sends "
                "no Authorization header)."})
    api_model: str | None = field(default=None, metadata={"help": "The endpoint's model name."})
    k_shot: int = field(default=0, metadata={
        "help": "Worked examples per class shown before each document (a seeded choice from the training set).",
        "check": non_negative})
    seed: int = field(default=0, metadata={"help": "Picks the worked examples."})
    max_length: int = field(default=512, metadata={"help": "Tokens (words, for an endpoint) of each document kept.",
                                                  "check": positive})
    batch_size: int = field(default=8, metadata={"help": "Documents per forward pass (local model).",
                                                "check": positive})
    max_new_tokens: int = field(default=32, metadata={"help": "Answer budget at the endpoint.", "check": positive})
    timeout: float = field(default=30.0, metadata={"help": "Seconds per endpoint request.", "check": positive})
    max_retries: int = field(default=5, metadata={
        "help": "Retries of 429/5xx answers and timeouts, with exponential backoff.", "check": non_negative})
    backoff: float = field(default=1.0, metadata={"help": "First backoff, in seconds.", "check": non_negative})
    requests_per_second: float | None = field(default=None, metadata={
        "help": "Rate limit at the endpoint; null sends as fast as answers come.", "check": positive})
    dtype: DTYPES = field(default="auto", metadata={"help": "Local model dtype (auto: bf16 on CUDA, fp32 on CPU)."})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N."})
    quantization: Literal["4bit", "8bit"] | None = field(default=None, metadata={
        "help": "Load the local model in 4-bit NF4 or 8-bit (bitsandbytes, CUDA)."})
    threshold_average: Literal["macro", "micro"] = field(default="macro", metadata={
        "help": "Multi-label: the F1 average that thresholds are tuned for on validation (local model)."})

    def _check_combinations(self) -> None:
        if self.uses_endpoint and not self.api_model:
            raise ConfigError("an endpoint (base_url) needs api_model, the endpoint's model name")
        if not self.uses_endpoint and self.model is None:
            raise ConfigError("give a local model or an endpoint base_url")

    @property
    def uses_endpoint(self) -> bool:
        return self.base_url is not None

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        """Verbalizer, prompt format and (local) frozen model for the fitted label space."""
        if self.uses_endpoint:
            tokenizer = None
        else:
            tokenizer = load_tokenizer(self.model)
            lm = load_model(self.model, "AutoModelForCausalLM", tokenizer=tokenizer, options=BackboneOptions(
                dtype=self.dtype, quantization=self.quantization, device=self.device)).eval()
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
            pool = [i for i, y in enumerate(labels)
                    if (name in y if self.multi_label else y == name) and i not in chosen]
            chosen += rng.sample(pool, min(self.k_shot, len(pool)))
        rng.shuffle(chosen)
        return [(texts[i], self.verbalizer_.verbalize(labels[i])) for i in chosen]

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
        if self.labeler_ is None:
            raise NotImplementedError("an endpoint answers in text, not label scores: predict_proba needs a "
                                      "local model (PromptClassifier(model=...))")
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

        endpoint = ChatEndpoint(self.base_url, self.api_model, os.environ.get(self.api_key_env), self.timeout,
                                self.max_retries, self.backoff, self.requests_per_second, self.max_new_tokens)
        with endpoint:
            return [endpoint.complete(self.prompt_.messages(t, self.shots_))
                    for t in tqdm(texts, desc="asking", unit="text", disable=len(texts) <= 1)]

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
