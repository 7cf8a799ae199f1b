"""Instruction tuning: the LM learns to write the label (`classifier.py`; its parameters, `params.py`), read
back through `methods.lm_answer`."""

from causalclf.methods.instruction.params import InstructionParams
from causalclf.methods.registry import register_method

register_method(
    "instruction",
    InstructionParams,
    "causalclf.methods.instruction.classifier:InstructionClassifier",
    "instruction tuning",
)
