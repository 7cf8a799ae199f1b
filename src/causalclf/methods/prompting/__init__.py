"""Zero-/few-shot prompting of a frozen LM, local or behind an OpenAI-compatible endpoint (`classifier.py`; its
parameters, `params.py`), read back through `methods.lm_answer`."""

from causalclf.methods.prompting.params import PromptParams
from causalclf.methods.registry import register_method

register_method(
    "prompt",
    PromptParams,
    "causalclf.methods.prompting.classifier:PromptClassifier",
    "zero-/few-shot prompting (local model or an OpenAI-compatible endpoint)",
)
