"""`causalclf export MODEL_DIR OUT`: a fitted classifier as a standard Hugging Face checkpoint.

    embedding head -> *ForSequenceClassification (e.g. LlamaForSequenceClassification)
    encoder        -> its own *ForSequenceClassification (e.g. BertForSequenceClassification)
    instruction    -> the merged causal LM (*ForCausalLM) + causalclf_prompt.json

The first two load with `AutoModelForSequenceClassification.from_pretrained(OUT)`,
`pipeline("text-classification", model=OUT, top_k=None)` and vLLM's pooling runner, and give the probabilities
`predict_proba` gives: LoRA is merged into the weights, a fitted temperature is folded into the output layer
(logits / T is the same linear map with its rows divided by T), and the labels, the problem type (softmax or
per-class sigmoid) and the multi-label thresholds (``causalclf_thresholds``, which transformers and vLLM
ignore) are in the config. The tokenizer of the head and the encoder is saved with ``model_max_length`` = the
classifier's ``max_length``, so ``truncation=True`` cuts texts where causalclf does. The int8 inference option
of the encoder is not exported: it is a CPU inference setting, not weights.

Which token the head reads. causalclf pools the last real token from the attention mask;
transformers' *ForSequenceClassification pools the rightmost token whose id is not
``config.pad_token_id``. With the tokenizer's own pad (eos for smollm2 and most causal LMs) a
text that really ends in eos would be read one token early. So the export gives the tokenizer a pad
token of its own (`EXPORT_PAD`, one past its largest id, with a zero embedding row when the
vocabulary has no spare one), which no text can contain, sets ``config.pad_token_id`` to it, and
pads on the right: the rightmost non-pad token is then every text's last real token, whatever it
ends with, and every real token keeps its position (models with absolute position embeddings,
GPT-2, read positions by index).

What cannot be exported is refused with the reason and the way out: an MLP head, a head
bias or mean/max pooling (standard transformers reads one bias-free ``score`` layer at the
last token), a quantized backbone, TF-IDF and prompting (no weights to export).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from causalclf.errors import UserError
from causalclf.methods import load_classifier
from causalclf.methods.base import Classifier
from causalclf.methods.transformer import merged_copy

log = logging.getLogger(__name__)

EXPORT_PAD = "<|causalclf_pad|>"
"""The exported head's pad token: a token of its own, which no text contains (see the module docs)."""

PROMPT_FILE = "causalclf_prompt.json"


class ExportError(UserError, ValueError):
    """A classifier (or an output folder) that cannot be exported as asked."""


def export(model: str | Path | Classifier, out: str | Path) -> Path:
    """Write `model` (a saved model folder or a fitted classifier) to the new or empty folder `out`.

    The folder is written under a temporary name beside `out` and renamed into place, so a
    failed export leaves nothing behind. Returns `out`.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} already exists and is not an empty folder: export into a new folder")
    clf = model if isinstance(model, Classifier) else load_classifier(model)
    clf._check_fitted()
    writer = WRITERS.get(clf.method_name)
    if writer is None:
        raise ExportError(
            f"a {clf.method_name!r} classifier has no weights to export as a Hugging Face model "
            f"(export supports {sorted(WRITERS)}); serve it with `causalclf serve` instead"
        )
    if getattr(clf, "quantization", None) is not None:
        raise ExportError(
            f"this classifier's backbone is quantized ({clf.quantization}): merging LoRA into "
            'quantized weights would round them again. Set "quantization" to null in the model '
            "folder's causalclf.json and export that (the adapters then sit on the full-precision "
            "base: close to, not exactly, what was trained; check it with `causalclf evaluate`), "
            "or serve this one with `causalclf serve`"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        writer(clf, tmp)
        os.replace(tmp, out)  # replaces an empty `out` folder too
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("exported the %s classifier to %s", clf.method_name, out)
    return out


# --------------------------------------------------------------------------- shared
def _label_config(config, clf: Classifier) -> None:
    """Labels, problem type and (multi-label) decision thresholds on a transformers config."""
    names = clf.labels_
    config.id2label = dict(enumerate(names))  # num_labels follows from id2label
    config.label2id = {n: i for i, n in enumerate(names)}
    config.problem_type = "multi_label_classification" if clf.multi_label else "single_label_classification"
    if clf.multi_label:
        config.causalclf_thresholds = {n: float(t) for n, t in zip(names, clf.thresholds_)}


@torch.no_grad()
def _fold_temperature(layer: nn.Linear, clf: Classifier) -> None:
    """Divide the output layer's rows (and bias) by the fitted temperature, one per class or one for all."""
    if clf.temperature_ is None:
        return
    t = torch.as_tensor(np.broadcast_to(clf.temperature_, (layer.out_features,)).copy(), dtype=torch.float64)
    layer.weight.copy_((layer.weight.double() / t[:, None]).to(layer.weight.dtype))
    if layer.bias is not None:
        layer.bias.copy_((layer.bias.double() / t).to(layer.bias.dtype))


def _save_tokenizer(tokenizer, max_length: int, out: Path, padding_side: str) -> None:
    """Save `tokenizer` (a copy of the classifier's: it is changed) to cut at `max_length` and pad on `padding_side`."""
    # save_pretrained writes the attributes named in init_kwargs (and model_max_length), so the
    # padding side must be one of them to be saved
    tokenizer.padding_side = tokenizer.init_kwargs["padding_side"] = padding_side
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(out)


# --------------------------------------------------------------------------- methods
def _write_embedding_head(clf, out: Path) -> None:
    from transformers import AutoModelForSequenceClassification
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

    problems = []
    if clf.head != "linear":
        problems.append(f"head={clf.head!r} (an MLP is not a single linear layer)")
    if clf.head_bias:
        problems.append("head_bias=true (the score layer has no bias)")
    if clf.pooling != "last":
        problems.append(f"pooling={clf.pooling!r} (the score is read at the last token)")
    if problems:
        raise ExportError(
            "this embedding head cannot be written as transformers' standard *ForSequenceClassification, whose "
            "head is one bias-free `score` layer read at the last token: " + "; ".join(problems) + ". Retrain "
            "with head: linear, head_bias: false and pooling: last to export it, or serve this one with "
            "`causalclf serve`"
        )
    module = clf._inference_model()  # LoRA already merged, blocks above layer_ already cut
    backbone = module.backbone if module.backbone is not None else clf._base_backbone()
    config = copy.deepcopy(backbone.config)
    if getattr(config, "layer_types", None) is not None:  # per-block lists (Qwen2/3...) must match the cut
        config.layer_types = config.layer_types[: config.num_hidden_layers]
    if config.model_type not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES:
        raise ExportError(
            f"transformers has no sequence-classification class for {config.model_type} models "
            f"(AutoModelForSequenceClassification supports {len(MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES)} "
            "other types), so this embedding head has no standard checkpoint to become; serve it with "
            "`causalclf serve`, or predict with `causalclf predict`"
        )
    _label_config(config, clf)
    model = AutoModelForSequenceClassification.from_config(config, dtype=next(backbone.parameters()).dtype)
    if not isinstance(getattr(model, "score", None), nn.Linear) or model.score.bias is not None:
        raise ExportError(
            f"{type(model).__name__} has no bias-free `score` layer to hold the head: export supports "
            "decoder models whose sequence-classification head is one (Llama, Mistral, Qwen, GPT-2...)"
        )
    model.base_model.load_state_dict(backbone.state_dict())
    with torch.no_grad():
        model.score.weight.copy_(module.head[-1].weight)
    _fold_temperature(model.score, clf)

    tokenizer = copy.deepcopy(clf.tokenizer_)
    tokenizer.add_special_tokens({"pad_token": EXPORT_PAD})
    rows = model.get_input_embeddings().num_embeddings
    if tokenizer.pad_token_id >= rows:
        model.resize_token_embeddings(tokenizer.pad_token_id + 1, mean_resizing=False)
        with torch.no_grad():
            model.get_input_embeddings().weight[rows:] = 0
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)  # writes config.architectures too
    _save_tokenizer(tokenizer, clf.max_length, out, padding_side="right")


def _write_encoder(clf, out: Path) -> None:
    model = merged_copy(clf.model_)  # a copy in any case: the temperature is folded into it
    _label_config(model.config, clf)
    if clf.temperature_ is not None:
        outputs = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == len(clf.labels_)]
        if not outputs:
            raise ExportError(f"found no output layer in {type(model).__name__} to fold the temperature into")
        _fold_temperature(outputs[-1], clf)  # the classifier is the model's last module
    if clf.int8_inference:
        log.info("int8_inference is a CPU inference setting, not weights: the export holds the full-precision model")
    model.save_pretrained(out)
    _save_tokenizer(copy.deepcopy(clf.tokenizer_), clf.max_length, out, padding_side=clf.tokenizer_.padding_side)


def _write_instruction(clf, out: Path) -> None:
    lm = merged_copy(clf.lm_)
    lm.save_pretrained(out)
    clf.tokenizer_.save_pretrained(out)  # max_length counts the document's tokens, not the prompt's: no cut here
    labeler = clf.labeler_
    verbalizer, prompt = labeler.verbalizer, labeler.prompt
    spec = {
        "note": "A generative causal LM instruction-tuned (LoRA merged) to answer with labels: not a "
        "classification head. Build the prompt as below, generate greedily, map the answer back.",
        "labels": clf.labels_,
        "multi_label": clf.multi_label,
        "verbalizer": dict(zip(clf.labels_, verbalizer.words)),
        "label_separator": verbalizer.separator,
        "none_word": verbalizer.none_word,
        "user_message": prompt.user_message("{text}"),
        "chat_template": prompt.chat,
        "example_prompt": prompt.render("{text}"),
        "max_document_tokens": clf.max_length,
        "how": "Cut the document to max_document_tokens tokens and put it in user_message for {text}; with "
        "chat_template true, pass [{role: user, content: user_message}] through the tokenizer's chat "
        'template with add_generation_prompt=True, else append "\\nAnswer:\\n" (example_prompt shows '
        "the result). The answer is the verbalizer word of the label (multi-label: the words in label "
        "order joined by label_separator, or none_word), then the eos token.",
    }
    (out / PROMPT_FILE).write_text(json.dumps(spec, indent=2, ensure_ascii=False))


WRITERS: dict[str, Callable[[Classifier, Path], None]] = {
    "embedding_head": _write_embedding_head,
    "encoder": _write_encoder,
    "instruction": _write_instruction,
}
