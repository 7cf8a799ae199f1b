"""The parameters of zero-/few-shot prompting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from causalclf.backbones.references import model_reference
from causalclf.errors import ConfigError
from causalclf.fields import non_negative, positive
from causalclf.methods.lm_answer.params import AnswerParams
from causalclf.methods.params import MethodParams
from causalclf.methods.transformer_params import DTYPES


@dataclass(repr=False, eq=False)
class PromptParams(MethodParams, AnswerParams):
    """Prompt a frozen causal LM, local or behind an OpenAI-compatible chat endpoint. Without a local
    tokenizer, `max_length` counts whitespace-separated words."""

    model: str | None = field(
        default="smollm2-135m",
        metadata={
            "help": "A local causal LM (registry name, folder or cached hub id); used when base_url is null.",
            "check": model_reference("causal"),
        },
    )
    base_url: str | None = field(
        default=None,
        metadata={
            "help": "An OpenAI-compatible endpoint, e.g. http://localhost:8000/v1; its answers are parsed back into "
            "labels (no probabilities)."
        },
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={
            "help": "Environment variable holding the endpoint's key (read at predict time, never stored; unset sends "
            "no Authorization header)."
        },
    )
    api_model: str | None = field(default=None, metadata={"help": "The endpoint's model name."})
    k_shot: int = field(
        default=0,
        metadata={
            "help": "Worked examples per class shown before each document (a seeded choice from the training set).",
            "check": non_negative,
        },
    )
    seed: int = field(default=0, metadata={"help": "Picks the worked examples."})
    max_length: int = field(
        default=512, metadata={"help": "Tokens (words, for an endpoint) of each document kept.", "check": positive}
    )
    batch_size: int = field(
        default=8, metadata={"help": "Documents per forward pass (local model).", "check": positive}
    )
    max_new_tokens: int = field(default=32, metadata={"help": "Answer budget at the endpoint.", "check": positive})
    timeout: float = field(default=30.0, metadata={"help": "Seconds per endpoint request.", "check": positive})
    max_retries: int = field(
        default=5,
        metadata={"help": "Retries of 429/5xx answers and timeouts, with exponential backoff.", "check": non_negative},
    )
    backoff: float = field(default=1.0, metadata={"help": "First backoff, in seconds.", "check": non_negative})
    requests_per_second: float | None = field(
        default=None,
        metadata={"help": "Rate limit at the endpoint; null sends as fast as answers come.", "check": positive},
    )
    dtype: DTYPES = field(default="auto", metadata={"help": "Local model dtype (auto: bf16 on CUDA, fp32 on CPU)."})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N."})
    quantization: Literal["4bit", "8bit"] | None = field(
        default=None, metadata={"help": "Load the local model in 4-bit NF4 or 8-bit (bitsandbytes, CUDA)."}
    )
    threshold_average: Literal["macro", "micro"] = field(
        default="macro",
        metadata={"help": "Multi-label: the F1 average that thresholds are tuned for on validation (local model)."},
    )

    def check_combinations(self) -> None:
        if self.uses_endpoint and not self.api_model:
            raise ConfigError("an endpoint (base_url) needs api_model, the endpoint's model name")
        if not self.uses_endpoint and self.model is None:
            raise ConfigError("give a local model or an endpoint base_url")

    @property
    def uses_endpoint(self) -> bool:
        return self.base_url is not None
