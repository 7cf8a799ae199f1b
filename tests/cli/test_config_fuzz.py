"""A fuzzer over every field of every config schema and command option: wrong types, out-of-range values, nulls
and unknown keys, each in an otherwise valid config, through the command line in-process.

Each must end with exit 2 and one ``error:`` paragraph that names the field (or its flag), no traceback, and
no model or data loaded. A value is drawn as wrong by the field's own declaration: its type hint (a value
`check_value` refuses) or its value check (a value of the right type that the check refuses), so the
fuzzer follows the schemas as they change.
"""

from __future__ import annotations

import csv
import importlib
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from causalclf.cli import main
from causalclf.cli.commands import COMMANDS
from causalclf.cli.options import argument_type, choices_of, lenient
from causalclf.data.config import DataConfig
from causalclf.distillation.config import DistillConfig
from causalclf.errors import ConfigError
from causalclf.experiments.spec import Experiment
from causalclf.fields import check_value, init_fields, type_hints
from causalclf.methods import methods
from causalclf.run_config import RUN_KEYS, RunConfig
from causalclf.training.config import TrainingConfig
from tests.cli.test_bad_input import error_paragraph
from tests.toy import toy_single_label

FUZZ = settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much, HealthCheck.too_slow],
)
LORA_KEYS = ("r", "lora_alpha", "lora_dropout", "target_modules", "use_rslora", "bias")
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 3), max_size=2),
)
NUMBERS = st.one_of(st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False))


def _refuses(schema: type, name: str, value) -> bool:
    """Whether the field `name` of `schema` refuses `value`: by its type hint, or by its own check."""
    hint, check = type_hints(schema)[name], init_fields(schema)[name].metadata.get("check")
    try:
        check_value(value, hint, name)
        if check is not None and value is not None:
            check(value, name)
    except ConfigError:
        return True
    return False


def wrong(schema: type, name: str):
    """Values the field `name` of `schema` refuses."""
    return st.one_of(ANY_VALUE, NUMBERS).filter(lambda value: _refuses(schema, name, value))


def _fuzzable_option(options, name: str) -> bool:
    """Whether a command-line word can be wrong for this option: a switch takes no word, and a plain string
    option without a check takes any."""
    kind, _ = argument_type(type_hints(options.schema)[name])
    return kind is not bool and (
        kind is not str
        or choices_of(type_hints(options.schema)[name]) is not None
        or options.fields()[name].metadata.get("check") is not None
    )


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    texts, labels = toy_single_label(10)
    path = tmp_path_factory.mktemp("fuzz") / "data.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *zip(texts, labels)])
    return path


@pytest.fixture()
def nothing_loads(monkeypatch):
    """Every loader of data or models raises: a config refused before any loading never notices."""

    def tripwire(*args, **kwargs):
        raise AssertionError("something was loaded before the config was checked")

    # All imported before any is patched: a module imported while another is patched would bind the tripwire
    # (`from ... import load_dataset`) for good.
    holders = [
        importlib.import_module(name)
        for name in (
            "causalclf.backbones.loading",
            "causalclf.data.loaders",
            "causalclf.methods.transformer",
            "causalclf.methods.embedding_head.classifier",
            "causalclf.methods.encoder.classifier",
            "causalclf.methods.instruction.classifier",
            "causalclf.methods.prompting.classifier",
            "causalclf.experiments.runner",
            "causalclf.cli.distill",
            "causalclf.cli.evaluate",
        )
    ]
    for module in holders:
        for name in ("load_model", "load_tokenizer", "load_dataset", "load_classifier"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, tripwire)


def refused(args: list[str], capsys, *names: str) -> None:
    """`causalclf ARGS` ends with exit 2 and one error paragraph naming one of `names`, without a traceback."""
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    message = error_paragraph(err)
    assert any(name in message for name in names), (names, message)


def run_config(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _cases() -> list[tuple[str, str, str]]:
    """(section, schema name, field) for every field of every schema a YAML file or the command line sets."""
    cases = [("run", "RunConfig", n) for n in RUN_KEYS if n not in ("distill", "data", "method")]
    cases += [("training", "TrainingConfig", n) for n in init_fields(TrainingConfig)]
    cases += [("data", "DataConfig", n) for n in init_fields(DataConfig)]
    cases += [("distill", "DistillConfig", n) for n in init_fields(DistillConfig)]
    cases += [("experiment", "Experiment", n) for n in init_fields(Experiment) if n not in ("data", "methods")]
    cases += [("lora", "LoraConfig", n) for n in LORA_KEYS]
    for name, entry in methods().items():
        cases += [(f"method:{name}", name, n) for n in init_fields(entry.params)]
    for command in COMMANDS:
        cases += [
            (f"command:{command.name}", str(i), n)
            for i, options in enumerate(command.options)
            for n, f in options.fields().items()
            if not f.metadata.get("positional") and _fuzzable_option(options, n)
        ]
    return cases


def _schema(section: str, owner: str):
    from peft import LoraConfig

    if section.startswith("method:"):
        return methods()[owner].params
    if section.startswith("command:"):
        return next(c for c in COMMANDS if c.name == section.split(":")[1]).options[int(owner)].schema
    return {
        "RunConfig": RunConfig,
        "TrainingConfig": TrainingConfig,
        "DataConfig": DataConfig,
        "DistillConfig": DistillConfig,
        "Experiment": Experiment,
        "LoraConfig": LoraConfig,
    }[owner]


@pytest.mark.parametrize("section, owner, name", _cases())
@given(data=st.data())
@FUZZ
def test_a_wrong_value_is_refused_naming_its_field(
    section, owner, name, data, tmp_path, data_file, nothing_loads, capsys
):
    schema = _schema(section, owner)
    base = {"data": {"path": str(data_file)}, "method": "tfidf", "output_dir": str(tmp_path / "run")}
    if section.startswith("command:"):
        command = next(c for c in COMMANDS if c.name == section.split(":")[1])
        refused(
            _command_line(command, int(owner), name, data, tmp_path, data_file),
            capsys,
            command.options[int(owner)].flag(name),
        )
        return
    value = data.draw(wrong(schema, name), label=name)
    if section == "run":
        refused(["train", str(run_config(tmp_path, {**base, name: value}))], capsys, name)
    elif section == "training":
        raw = {**base, "method": "embedding_head", "training": {name: value}}
        refused(["train", str(run_config(tmp_path, raw))], capsys, f"training.{name}", "training")
    elif section == "lora":
        raw = {**base, "method": "embedding_head", "lora": {name: value}}
        refused(["train", str(run_config(tmp_path, raw))], capsys, f"lora.{name}", "lora")
    elif section == "data":
        # a name, a path or a train file: exactly one of them is given, so each is fuzzed alone
        spec = {name: value} if name in ("name", "path", "train") else {"path": str(data_file), name: value}
        refused(["train", str(run_config(tmp_path, {**base, "data": spec}))], capsys, name, "data")
    elif section == "distill":
        raw = {**base, "distill": {name: value}}
        refused(["train", str(run_config(tmp_path, raw))], capsys, f"distill.{name}", "distill")
    elif section == "experiment":
        raw = {"data": {"path": str(data_file)}, "methods": {"t": {"method": "tfidf"}}, name: value}
        refused(["compare", str(run_config(tmp_path, raw))], capsys, name)
    else:
        refused(["train", str(run_config(tmp_path, {**base, "method": owner, name: value}))], capsys, name)


def _command_line(command, index: int, name: str, data, tmp_path: Path, data_file: Path) -> list[str]:
    """`command` with its positionals filled in and `name` (of its `index`-th options) set to words that, parsed
    as the command line parses them, the field refuses."""
    options = command.options[index]
    kind, many = argument_type(type_hints(options.schema)[name])
    convert = lenient(kind)
    word = st.one_of(
        st.integers(-(10**6), 10**6).map(str),
        st.floats(-1e6, 1e6, allow_nan=False).map(str),
        st.from_regex(r"[a-z][a-z0-9_.]{0,8}", fullmatch=True),
    )
    words = data.draw(st.lists(word, min_size=1, max_size=3) if many else word.map(lambda w: [w]), label=name)
    parsed = [convert(w) for w in words] if many else convert(words[0])
    assume(_refuses(options.schema, name, parsed))
    positionals = {
        "config": str(data_file),
        "experiment": str(data_file),
        "model_dir": str(tmp_path),
        "input": str(data_file),
        "data": str(data_file),
        "teacher_dir": str(tmp_path),
        "output": str(tmp_path / "out"),
        "run_dirs": str(tmp_path),
    }
    args = [command.name]
    for group in command.options:
        args += [positionals[n] for n, f in group.fields().items() if f.metadata.get("positional")]
    return [*args, options.flag(name), *words]


@pytest.mark.parametrize(
    "section", ["run", "training", "lora", "data", "distill", "experiment", *(f"method:{name}" for name in methods())]
)
@given(key=st.from_regex(r"[a-z][a-z_]{2,12}", fullmatch=True))
@FUZZ
def test_an_unknown_key_is_refused_naming_it(section, key, tmp_path, data_file, nothing_loads, capsys):
    base = {"data": {"path": str(data_file)}, "method": "tfidf", "output_dir": str(tmp_path / "run")}
    method = section.split(":")[1] if section.startswith("method:") else "embedding_head"
    known = {
        "run": set(init_fields(RunConfig)) | set(init_fields(methods()["tfidf"].params)),
        "training": set(init_fields(TrainingConfig)),
        "data": set(init_fields(DataConfig)),
        "distill": set(init_fields(DistillConfig)),
        "experiment": set(init_fields(Experiment)),
        "lora": None,
    }.get(section, set(init_fields(methods()[method].params)) | set(RUN_KEYS))
    if section == "lora":
        from peft import LoraConfig

        known = set(init_fields(LoraConfig))
    assume(key not in known)
    raw = {
        "run": {**base, key: 1},
        "training": {**base, "method": method, "training": {key: 1}},
        "lora": {**base, "method": method, "lora": {key: 1}},
        "data": {**base, "data": {"path": str(data_file), key: 1}},
        "distill": {**base, "distill": {key: 1}},
        "experiment": {"data": "bbc-news", "methods": {"t": {"method": "tfidf"}}, key: 1},
    }.get(section, {**base, "method": method, key: 1})
    refused(
        ["compare" if section == "experiment" else "train", str(run_config(tmp_path, raw))],
        capsys,
        f"unknown key {key!r}",
    )
