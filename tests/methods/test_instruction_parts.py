"""The building blocks of instruction tuning, checked one by one on tiny random models.

SFT masking and truncation, logits only where the SFT loss reads them, label scoring from a
cached prefix against a plain forward, decoding constrained to the label set, prompt layouts
and the LoRA budget helper.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causalclf.backbones.adapters import lora_config, lora_parameters, lora_rank_for_budget, lora_targets
from causalclf.backbones.loading import (
    BackboneOptions,
    count_trainable,
    load_model,
    load_tokenizer,
    prepare_for_training,
)
from causalclf.data.labels import LabelSpace
from causalclf.methods.instruction import classifier as instruction
from causalclf.methods.instruction.classifier import InstructionClassifier
from causalclf.methods.lm_answer import label_scoring
from causalclf.methods.lm_answer.constrained import LabelGrammar
from causalclf.methods.lm_answer.label_scoring import PrefixScorer
from causalclf.methods.lm_answer.labeler import LMLabeler
from causalclf.methods.lm_answer.prompts import PromptFormat
from causalclf.methods.lm_answer.sft import IGNORE, sft_collator
from causalclf.methods.lm_answer.verbalizers import Verbalizer
from tests.toy import TOY_WORDS, toy_multi_label, toy_single_label


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Tiny models spend their time in thread synchronisation: on a shared 2-core machine two
    threads per process made SFT of the toy model about 30x slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def lm(tiny_llama):
    tokenizer = load_tokenizer(tiny_llama)
    return load_model(tiny_llama, "AutoModelForCausalLM", tokenizer=tokenizer).eval(), tokenizer


def labeler(
    lm, names, multi_label=False, spec="name", separator=", ", template=None, max_length=None, length_normalize=False
):
    model, tokenizer = lm
    v = Verbalizer.build(LabelSpace(names, multi_label=multi_label), spec, separator)
    return LMLabeler(
        model,
        tokenizer,
        v,
        PromptFormat(v, tokenizer, template, max_length=max_length),
        batch_size=3,
        length_normalize=length_normalize,
    )


def full_forward_log_prob(model, prompt: list[int], response: list[int]) -> float:
    """log p(response | prompt) from one uncached, unpadded forward over prompt + response."""
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([prompt + response])).logits[0].float(), dim=-1)
    return float(sum(logp[len(prompt) - 1 + t, tok] for t, tok in enumerate(response)))


# ---------------------------------------------------------------------------- SFT rows
@pytest.fixture
def captured_training(monkeypatch):
    """Runs `fit` up to the training loop and keeps what it would have trained on."""
    seen = {}

    def fake_train(build, dataset, collator, config, evaluate=None, floor=None):
        seen.update(dataset=dataset, collator=collator)
        return build(config.seed), None  # the model, as the real loop would make it

    monkeypatch.setattr(instruction, "train_with_restarts", fake_train)
    return seen


@pytest.mark.parametrize("multi_label", [False, True])
def test_loss_covers_exactly_the_response_and_its_end_token(tiny_llama, captured_training, multi_label):
    texts, labels = toy_multi_label(6) if multi_label else toy_single_label(2)
    clf = InstructionClassifier(tiny_llama, max_length=64).fit(texts, labels)
    tokenizer, tokens = clf.tokenizer_, clf.labeler_.tokens
    assert tokenizer.pad_token_id == tokenizer.eos_token_id  # the case where id-based masking goes wrong
    rows = [captured_training["dataset"][i] for i in range(len(texts))]
    batch = captured_training["collator"](rows)
    for i, (text, label) in enumerate(zip(texts, labels)):
        prompt = clf.labeler_.prompt_ids([text])[0]
        ids = [clf.label_space_.index(y) for y in label] if multi_label else [clf.label_space_.index(label)]
        response = tokens.encode(ids)
        assert response[-1] == tokenizer.eos_token_id
        n = len(prompt) + len(response)
        assert batch["input_ids"][i, :n].tolist() == prompt + response
        expected = [IGNORE] * len(prompt) + response + [IGNORE] * (batch["labels"].shape[1] - n)
        assert batch["labels"][i].tolist() == expected
        assert batch["attention_mask"][i].tolist() == [1] * n + [0] * (batch["labels"].shape[1] - n)
        written = clf.labeler_.verbalizer.parse(tokenizer.decode(response[:-1]))
        assert written == (sorted(label) if multi_label else label)


def test_model_loss_is_the_mean_over_masked_positions(lm):
    model, tokenizer = lm
    rows = [
        {"input_ids": [5, 6, 7, 8, 2], "attention_mask": [1] * 5, "labels": [IGNORE] * 3 + [8, 2]},
        {"input_ids": [9, 10, 2], "attention_mask": [1] * 3, "labels": [IGNORE, 10, 2]},
    ]
    batch = sft_collator(tokenizer)(rows)
    with torch.no_grad():
        loss = model(**batch).loss.item()
    hand = [full_forward_log_prob(model, [5, 6, 7], [8, 2]), full_forward_log_prob(model, [9], [10, 2])]
    assert loss == pytest.approx(-sum(hand) / 4, abs=1e-5)


def test_logits_only_where_the_loss_reads_give_the_full_loss_and_gradients(tiny_llama):
    """The collator asks for logits at the response positions only; loss and LoRA gradients
    must equal those of the full logits, for rows of different prompt and response lengths."""
    tokenizer = load_tokenizer(tiny_llama)
    model = load_model(tiny_llama, "AutoModelForCausalLM", tokenizer=tokenizer)
    model = prepare_for_training(model, lora_config({"lora_dropout": 0.0}, "CAUSAL_LM"), BackboneOptions())
    torch.manual_seed(0)
    for name, p in model.named_parameters():
        if "lora_B" in name:  # B starts at zero: move it so that gradients reach A too
            p.data.normal_(0, 0.1)
    rows = [
        {"input_ids": [5, 6, 7, 8, 2], "attention_mask": [1] * 5, "labels": [IGNORE] * 3 + [8, 2]},
        {"input_ids": [9, 10, 11, 12, 13, 14, 2], "attention_mask": [1] * 7, "labels": [IGNORE] * 6 + [2]},
        {"input_ids": [9, 10, 2], "attention_mask": [1] * 3, "labels": [IGNORE, 10, 2]},
    ]
    batch = sft_collator(tokenizer)(rows)
    assert batch["logits_to_keep"].tolist() == [[2, 3], [5, 0], [0, 1]]
    assert batch["shift_labels"].tolist() == [[8, 2], [2, IGNORE], [10, 2]]

    def loss_and_grads(**inputs):
        model.zero_grad()
        out = model(**inputs)
        out.loss.backward()
        return out, {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    kept, kept_grads = loss_and_grads(**batch)
    full, full_grads = loss_and_grads(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
    )
    assert kept.logits.shape[:2] == (3, 2) and full.logits.shape[:2] == batch["input_ids"].shape
    assert kept.loss.item() == pytest.approx(full.loss.item(), abs=1e-6)
    assert kept_grads.keys() == full_grads.keys() and len(kept_grads) > 0
    for name, grad in full_grads.items():
        torch.testing.assert_close(kept_grads[name], grad, atol=1e-6, rtol=1e-5, msg=name)


def test_long_documents_are_cut_never_the_response(tiny_llama, captured_training):
    long_text = " ".join(["sport match goal team"] * 200)
    clf = InstructionClassifier(tiny_llama, max_length=12).fit([long_text, "money bank"], ["sport", "money"])
    row = captured_training["dataset"][0]
    response = clf.labeler_.tokens.encode([clf.label_space_.index("sport")])
    assert row["labels"][-len(response) :] == response
    assert row["input_ids"][-len(response) :] == response
    kept = clf.labeler_.prompt.truncate(long_text)
    assert len(clf.tokenizer_(kept, add_special_tokens=False)["input_ids"]) == 12
    assert len(row["input_ids"]) < 12 + 80  # instruction + 12 document tokens + response


# ---------------------------------------------------------------------------- scoring
@pytest.mark.parametrize("length_normalize", [False, True])
def test_single_label_scores_equal_hand_computed_log_probs(lm, length_normalize):
    lab = labeler(lm, ["film", "money", "red cat", "sport"], length_normalize=length_normalize)
    texts = ["the film was great", "bank money stock price of the market and trade", "a"]
    scores = lab.scores(texts)
    for text, row in zip(texts, scores):
        prompt = lab.prompt_ids([text])[0]
        for j, got in enumerate(row):
            response = lab.tokens.encode([j])
            want = full_forward_log_prob(lm[0], prompt, response)
            assert abs(got - (want / len(response) if length_normalize else want)) <= 1e-4


@pytest.mark.parametrize("max_packed", [1, 3, 512])
def test_prefix_scorer_handles_padding_packing_and_chunks(lm, monkeypatch, max_packed):
    monkeypatch.setattr(label_scoring, "MAX_PACKED_TOKENS", max_packed)
    model, tokenizer = lm
    prompts = [[5, 6, 7, 8, 9, 10, 11], [12], [13, 14, 15]]
    conts = [[20, 2], [21], [22, 23, 24, 2], [2], [25, 26, 27, 28, 29], [20, 2, 7], [31, 2]]
    got = PrefixScorer(model, prompts, tokenizer.pad_token_id).log_likelihood(conts)
    want = [[full_forward_log_prob(model, p, c) for c in conts] for p in prompts]
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_multi_label_scores_are_chain_marginals_of_hand_computed_log_probs(lm):
    lab = labeler(lm, ["blue", "green", "red cat"], multi_label=True)
    model, t = lm[0], lab.tokens
    text = "the cat is red and the dog"
    prompt = lab.prompt_ids([text])[0]
    p = lambda *segments: np.exp(full_forward_log_prob(model, prompt, [x for s in segments for x in s]))  # noqa: E731
    end = [t.end]
    z = p(t.first[0]) + p(t.first[1]) + p(t.first[2]) + p(t.none, end)
    first = [p(t.first[j]) / z for j in range(3)]

    def q(h, j):  # P(next = j | label h), among the later labels and the end
        options = {o: p(t.first[h], t.after[o]) for o in range(h + 1, 3)} | {"end": p(t.first[h], end)}
        return options[j] / sum(options.values())

    m0 = first[0]
    m1 = first[1] + m0 * q(0, 1)
    m2 = first[2] + m0 * q(0, 2) + m1 * q(1, 2)
    proba = 1 / (1 + np.exp(-lab.scores([text, "a"])[0]))
    np.testing.assert_allclose(proba, [m0, m1, m2], atol=1e-5)


# ---------------------------------------------------------------------------- constrained decoding
LABEL_WORDS = sorted(set(TOY_WORDS) - {"none", "and"})


@st.composite
def label_sets(draw):
    words = draw(st.lists(st.sampled_from(LABEL_WORDS), min_size=2, max_size=5, unique=True))
    if draw(st.booleans()):  # a label that is a token prefix of another
        words.append(words[0] + " " + draw(st.sampled_from(LABEL_WORDS)))
    return words


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=label_sets(),
    multi_label=st.booleans(),
    spec=st.sampled_from(["name", "numbers"]),
    separator=st.sampled_from([", ", "; ", " | "]),
    seed=st.integers(0, 10_000),
    scale=st.sampled_from([0.02, 0.5, 3.0]),
    texts=st.lists(st.lists(st.sampled_from(TOY_WORDS), min_size=1, max_size=12).map(" ".join), min_size=1, max_size=4),
)
def test_constrained_decoding_only_writes_valid_answers(lm, names, multi_label, spec, separator, seed, scale, texts):
    model, _ = lm
    original = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        torch.manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():  # a fresh random model, from near-uniform to peaked
                p.normal_(0.0, scale)
        lab = labeler(lm, sorted(set(names)), multi_label=multi_label, spec=spec, separator=separator)
        answers, responses = lab.decode(texts, constrained=True)
    finally:
        model.load_state_dict(original)
    space = lab.verbalizer.label_space
    for answer, response in zip(answers, responses):
        if multi_label:
            assert answer is not None and answer == [n for n in space.names if n in answer]
        else:
            assert answer in space.names
        assert lab.verbalizer.parse(response) == answer, response


def test_grammar_reads_and_rejects_token_sequences(lm):
    lab = labeler(lm, ["blue", "green", "red", "red cat"], multi_label=True)
    tokens = lab.tokens
    grammar = LabelGrammar(tokens, multi_label=True)
    assert grammar.read(tokens.encode([0, 3])) == (0, 3)
    assert grammar.read(tokens.encode([2])) == (2,)
    assert grammar.read(tokens.encode([])) == ()
    assert grammar.read(list(tokens.after[0])) is None  # a separator first
    assert grammar.read(list(tokens.first[2]) + list(tokens.after[0])) is None  # out of order
    assert grammar.read(list(tokens.none) + list(tokens.after[0])) is None  # none plus a label
    single = LabelGrammar(tokens, multi_label=False)
    assert single.read(tokens.encode([1])) == (1,)
    assert single.read(tokens.encode([0, 1])) is None


def test_responses_must_tokenize_apart(lm):
    with pytest.raises(ValueError, match="tokenize identically"):
        labeler(lm, ["Zebra", "Yak"])  # both unknown to the toy vocabulary


# ---------------------------------------------------------------------------- prompts
def test_prompt_layouts(tiny_llama, tiny_llama_chat):
    names = LabelSpace(["film", "sport"])
    plain = PromptFormat(Verbalizer.build(names), load_tokenizer(tiny_llama))
    assert plain.render("a goal").endswith("Text: a goal\nAnswer:\n")
    assert "film, sport" in plain.render("a goal")
    chat = PromptFormat(Verbalizer.build(names), load_tokenizer(tiny_llama_chat))
    assert chat.render("a goal").startswith("user: Classify") and chat.render("a goal").endswith("assistant:")
    custom = PromptFormat(Verbalizer.build(names, "letters"), None, template="Q: {text} ({labels})")
    assert custom.messages("a goal") == [{"role": "user", "content": "Q: a goal (A: film, B: sport)"}]
    hidden = PromptFormat(Verbalizer.build(names), None, show_labels=False)
    assert "film" not in hidden.user_message("a goal")
    shots = chat.messages("a goal", [("the movie", "film")])
    assert [m["role"] for m in shots] == ["user", "assistant", "user"] and shots[1]["content"] == "film"
    assert PromptFormat(Verbalizer.build(names), None, max_length=2).truncate("one two three") == "one two"
    with pytest.raises(ValueError, match=r"\{text\}"):
        PromptFormat(Verbalizer.build(names), None, template="no document here")


# ---------------------------------------------------------------------------- LoRA budget
@pytest.mark.parametrize("auto_class", ["AutoModelForCausalLM", "AutoModel"])
@pytest.mark.parametrize("targets", ["all-linear", ["q_proj", "v_proj"], r".*\.mlp\.(up|down)_proj"])
def test_lora_budget_counts_exactly_what_peft_trains(tiny_llama, auto_class, targets):
    model = load_model(tiny_llama, auto_class, tokenizer=load_tokenizer(tiny_llama))
    names = lora_targets(model, targets)
    assert "lm_head" not in names and all("embed" not in n for n in names)
    per_rank = lora_parameters(model, 1, targets)
    r = lora_rank_for_budget(model, 5_000, targets)
    assert abs(r * per_rank - 5_000) <= per_rank / 2  # the nearest rank
    adapted = prepare_for_training(model, lora_config({"r": r, "target_modules": targets}), BackboneOptions())
    assert count_trainable(adapted) == r * per_rank


def test_lora_budget_rejects_nonsense(lm):
    with pytest.raises(ValueError, match="matches no module"):
        lora_targets(lm[0], ["no_such_proj"])
    with pytest.raises(ValueError, match="positive"):
        lora_rank_for_budget(lm[0], 0)
    assert lora_rank_for_budget(lm[0], 1) == 1
