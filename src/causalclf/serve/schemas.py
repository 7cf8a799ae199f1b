"""Request and response bodies (pydantic), which FastAPI validates and /docs shows.

`/classify` is shaped like vLLM's classification API (its ``ClassificationRequest`` /
``ClassificationResponse``), so that a client written for vLLM works unchanged: other request
fields vLLM knows (``user``, ``priority``, ``truncate_prompt_tokens``...) are accepted and
ignored. Two widenings, both forced by what causalclf classifiers return: ``label`` is a list
for a multi-label model (every label at or over its class threshold), and ``probs`` is null
for a classifier without probabilities (a prompt answered by an HTTP endpoint).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

Label = str | list[str] | None
"""A label; a list of labels for a multi-label model; None where a generated answer named none."""


class PredictRequest(BaseModel):
    texts: list[str] = Field(description="Texts to classify.")


class PredictResponse(BaseModel):
    labels: list[Label]
    proba: list[dict[str, float]] | None = Field(
        description="Per text, each label's probability; null when the classifier gives none."
    )


class ClassifyRequest(BaseModel):
    input: str | list[str] = Field(description="A text, or a list of texts.")
    model: str | None = Field(default=None, description="The served model's name (see /v1/models); optional.")


class ClassificationData(BaseModel):
    index: int
    label: Label
    probs: list[float] | None = Field(
        description="Probabilities in the order of the model's labels (/health); null when the classifier gives none."
    )
    num_classes: int


class UsageInfo(BaseModel):
    prompt_tokens: int
    total_tokens: int
    completion_tokens: int = 0
    prompt_tokens_details: None = None


class ClassificationResponse(BaseModel):
    id: str
    object: str = "list"
    created: int
    model: str
    data: list[ClassificationData]
    usage: UsageInfo


class ModelCard(BaseModel):
    id: str
    object: str = "model"
    created: int
    owned_by: str = "causalclf"
    root: str | None = Field(default=None, description="The model folder, when served from one.")


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]


class Health(BaseModel):
    status: str
    method: str
    labels: list[str]
