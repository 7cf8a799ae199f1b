"""Verbalizers: writing labels into responses and reading noisy responses back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalclf.data.labels import LabelSpace
from causalclf.methods.lm_answer.verbalizers import Verbalizer, normalize

NAMES = ["film", "money", "sport", "tech_news"]
SINGLE = LabelSpace(NAMES)
MULTI = LabelSpace(NAMES, multi_label=True)
MAPPING = {"film": "cinema", "tech_news": "technology"}
SPECS = ["name", "letters", "numbers", MAPPING]

# Prose around an answer: none of it names a label, a code or the none word.
PREFIXES = ["", "Answer: ", "The answer is ", "Category - ", "I think it is: ", "label:\n", "> "]
SUFFIXES = ["", ".", "!", " .", "\n", " (final)", ", I believe", "\n\nHope this helps"]
CODE_PREFIXES = ["", "Answer: ", "Label:", "category :  "]


def noisy_case(flips, text: str) -> str:
    return "".join(c.upper() if flip else c.lower() for c, flip in zip(text, flips))


@st.composite
def noisy(draw, verbalizer: Verbalizer, labels, *, code: bool):
    """The verbalized answer with random case, spacing, separators, punctuation and prose."""
    words = verbalizer.segments(labels)
    separators = st.sampled_from([",", ", ", " , ", ";", " ; ", "\n", " and ", " | "])
    body = words[0]
    for word in words[1:]:
        body += draw(separators) + word
    body = draw(st.sampled_from(["", "'", '"', "*", "("])) + body + draw(st.sampled_from(["", "'", '"', "*", ")"]))
    body = noisy_case(draw(st.lists(st.booleans(), min_size=len(body), max_size=len(body))), body)
    space = st.sampled_from(["", " ", "  ", "\t", "\n"])
    prefix = draw(st.sampled_from(CODE_PREFIXES if code else PREFIXES))
    suffix = draw(st.sampled_from(["", ".", "!", " .", "\n"] if code else SUFFIXES))
    return draw(space) + prefix + body + suffix + draw(space)


@pytest.mark.parametrize("spec", SPECS, ids=str)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_single_label_parse_survives_noise(spec, data):
    v = Verbalizer.build(SINGLE, spec)
    label = data.draw(st.sampled_from(NAMES))
    text = data.draw(noisy(v, label, code=spec in ("letters", "numbers")))
    assert v.parse(text) == label, (text, v.words)


@pytest.mark.parametrize("spec", SPECS, ids=str)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_multi_label_parse_survives_noise_and_order(spec, data):
    v = Verbalizer.build(MULTI, spec)
    labels = data.draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=4))
    shuffled = data.draw(st.permutations(labels)) if labels else []
    text = data.draw(noisy(v, shuffled, code=spec in ("letters", "numbers")))
    assert v.parse(text) == sorted(labels), (text, v.words)


@pytest.mark.parametrize("spec", SPECS, ids=str)
@given(labels=st.lists(st.sampled_from(NAMES), unique=True))
def test_multi_label_round_trip(spec, labels):
    v = Verbalizer.build(MULTI, spec, separator=" | ", none_word="nothing")
    written = v.verbalize(labels)
    assert v.parse(written) == sorted(labels)
    assert written == (" | ".join(v.words[NAMES.index(n)] for n in sorted(labels)) if labels else "nothing")


def test_written_forms():
    assert Verbalizer.build(SINGLE, "letters").verbalize("money") == "B"
    assert Verbalizer.build(SINGLE, "numbers").verbalize("sport") == "3"
    assert Verbalizer.build(SINGLE, MAPPING).verbalize("film") == "cinema"
    assert Verbalizer.build(SINGLE, MAPPING).verbalize("sport") == "sport"  # unmapped keeps its name
    assert Verbalizer.build(MULTI, "name").verbalize(["sport", "film"]) == "film, sport"  # label-space order
    assert Verbalizer.build(MULTI, "name").verbalize([]) == "none"
    assert Verbalizer.build(SINGLE, "letters").label_list() == "A: film, B: money, C: sport, D: tech_news"


def test_synonyms_codes_and_names():
    v = Verbalizer.build(SINGLE, "letters")
    assert v.parse("(C)") == "sport" and v.parse("answer: c.") == "sport"
    assert v.parse("sport") == "sport"  # the label's own name is a synonym of its code
    assert v.parse("tech news") == "tech_news" and v.parse("Tech-News") == "tech_news"
    mapped = Verbalizer.build(SINGLE, MAPPING)
    assert mapped.parse("Film") == "film" and mapped.parse("CINEMA!") == "film"


@pytest.mark.parametrize(
    "spec,text",
    [
        ("name", ""),
        ("name", "   "),
        ("name", "I don't know"),
        ("name", "weather"),
        ("name", "film or sport"),  # two labels: no single answer
        ("letters", "E"),
        ("letters", "I don't know"),
        ("numbers", "7"),
        ("numbers", "1, 2"),
    ],
)
def test_unreadable_single_label_answers_are_none(spec, text):
    assert Verbalizer.build(SINGLE, spec).parse(text) is None


def test_multi_label_none_and_invalid():
    v = Verbalizer.build(MULTI, "name")
    assert v.parse("None.") == [] and v.parse("There are none") == []
    assert v.parse("weather, politics") is None
    assert v.parse("") is None
    assert v.parse("film, weather") == ["film"]  # prose fallback keeps the labels it can name


def test_single_letter_codes_are_not_read_from_prose():
    v = Verbalizer.build(LabelSpace(list("ABCDEFGH")), "name")
    assert v.parse("This is a patent") is None  # "a" in prose is an article, not label A
    assert v.parse("Answer: a") == "A"


def test_bad_verbalizers():
    with pytest.raises(ValueError, match="unknown labels"):
        Verbalizer.build(SINGLE, {"weather": "x"})
    with pytest.raises(ValueError, match="distinct"):
        Verbalizer.build(SINGLE, {"film": "sport"})
    with pytest.raises(ValueError, match="none word"):
        Verbalizer.build(MULTI, "name", none_word="Sport")
    with pytest.raises(ValueError, match="unknown verbalizer"):
        Verbalizer.build(SINGLE, "emoji")
    with pytest.raises(ValueError, match="separator"):
        Verbalizer.build(MULTI, {"film": "a-b"}, separator="-")


def test_normalize():
    assert normalize("  Tech_News!!  ") == "tech news"
    assert normalize("\t'Sport'\n") == "sport"
