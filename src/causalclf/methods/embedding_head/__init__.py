"""The paper's main method: a small head on a causal LM's pooled hidden state.

    text -> tokens -> backbone (LoRA-adapted or frozen; optionally cut after `layer` blocks)
         -> `pooling` (last real token, mean or max, from the attention mask)
         -> fp32 head (linear or 2-layer MLP) -> logits

- `pooling.py`: token states -> one vector per text, mask-aware.
- `layers.py`: which block's output is read (cutting the blocks above it), and every block's
  pooled output in one pass, for choosing a layer on validation.
- `model.py`: the head and the module that chains backbone, pooling and head.
- `params.py`: its parameters; `classifier.py`: `EmbeddingHeadClassifier`, the scikit-learn style estimator.
"""

from causalclf.methods.embedding_head.params import EmbeddingHeadParams
from causalclf.methods.registry import register_method

register_method(
    "embedding_head",
    EmbeddingHeadParams,
    "causalclf.methods.embedding_head.classifier:EmbeddingHeadClassifier",
    "the embedding head (the paper's main method)",
)
