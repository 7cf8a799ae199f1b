"""The fine-tuned encoder baseline: a BERT-style model with its sequence-classification head (`classifier.py`;
its parameters, `params.py`). Also the distillation student."""

from causalclf.methods.encoder.params import EncoderParams
from causalclf.methods.registry import register_method

register_method(
    "encoder",
    EncoderParams,
    "causalclf.methods.encoder.classifier:EncoderClassifier",
    "the fine-tuned encoder baseline (and the distillation student)",
)
