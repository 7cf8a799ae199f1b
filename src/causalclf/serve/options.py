"""Every knob of `causalclf serve` (batching, limits, timeout, model name) as one typed dataclass.

Fields carry type, default and help as `causalclf.fields` reads them: the CLI makes one
flag per field (``max_batch_size`` -> ``--max-batch-size``) and `create_app` takes them as
keyword arguments. Only the standard library and `causalclf.fields` are imported here, so the
CLI builds its help without the serve extra installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from causalclf.fields import check_fields, check_instance, non_negative, positive


@dataclass(frozen=True)
class ServeOptions:
    """How the server batches, what it refuses, and how long it waits."""

    max_batch_size: int = field(
        default=32,
        metadata={
            "help": "Most texts in one inference batch; 1 turns micro-batching off (one request's text at a time).",
            "check": positive,
        },
    )
    max_batch_tokens: int = field(
        default=16384,
        metadata={
            "help": "Most tokens in one batch, counted with the model's tokenizer (characters / 4 for a model without "
            "one) and cut at its max_length; a text longer than this still runs, alone.",
            "check": positive,
        },
    )
    max_wait_ms: float = field(
        default=5.0,
        metadata={
            "help": "How long a batch waits for more texts after its first one arrived, when fewer than "
            "max_batch_size are queued.",
            "check": non_negative,
        },
    )
    max_body_bytes: int = field(
        default=2 * 1024 * 1024, metadata={"help": "Largest request body, in bytes (413 above).", "check": positive}
    )
    max_texts: int = field(default=256, metadata={"help": "Most texts in one request (422 above).", "check": positive})
    max_text_chars: int = field(
        default=50_000, metadata={"help": "Most characters in one text (422 above).", "check": positive}
    )
    request_timeout_s: float = field(
        default=60.0,
        metadata={
            "help": "Seconds a request may wait for its answer, queue included (504 after). On shutdown, requests "
            "in flight get this long to finish.",
            "check": positive,
        },
    )
    served_model_name: str | None = field(
        default=None,
        metadata={
            "help": "The model name that /classify and /v1/models report, and the only one /classify accepts in "
            "its `model` field (vLLM's --served-model-name); default: the model folder as given."
        },
    )

    def __post_init__(self) -> None:
        check_instance(self)

    @classmethod
    def from_kwargs(cls, values: dict[str, Any]) -> ServeOptions:
        """Options from keyword arguments; an unknown or mistyped key is a `ConfigError` naming the closest."""
        check_fields(cls, values, "serve options")
        return cls(**values)
