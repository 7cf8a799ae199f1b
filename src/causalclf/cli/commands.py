"""The commands of `causalclf`, as a table: each names its arguments (dataclass fields: `options.Options`)
and the function that runs it, imported only when it runs, so that ``--help`` and a mistake in an
argument answer without loading torch.

The argument dataclasses below hold what is the command line's own; the rest comes from the schema of
what it configures (`ServeOptions`, `DistillConfig`, `TrainingConfig`, the encoder's parameters).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from causalclf.cli.options import Options
from causalclf.data.config import Format
from causalclf.distillation.config import DistillConfig
from causalclf.fields import each, non_negative, port, positive
from causalclf.inference.sinks import OutputFormat
from causalclf.methods.encoder.params import FULL_FINETUNE_LEARNING_RATE, EncoderParams
from causalclf.serve.options import ServeOptions
from causalclf.training.config import TrainingConfig

DATA_HELP = "a named dataset (bbc-news, ag_news, uspto, reuters), a path, or a YAML file with a data: section"


def _positional(help_text: str, **metadata) -> dict:
    return {"help": help_text, "positional": True, **metadata}


@dataclass
class TrainArgs:
    config: str = field(metadata=_positional("YAML run config (see configs/)"))
    output_dir: str | None = field(default=None, metadata={"help": "Override the config's output_dir."})
    resume: bool = field(
        default=False,
        metadata={"help": "Continue an interrupted run from its newest checkpoint (<output_dir>/checkpoints)."},
    )


@dataclass
class CompareArgs:
    experiment: str = field(metadata=_positional("YAML experiment (see configs/experiment_bbc.yaml)"))
    output_dir: str | None = field(default=None, metadata={"help": "Override the experiment's output_dir."})
    seeds: list[int] | None = field(
        default=None, metadata={"help": "Override the experiment's seeds (e.g. one seed for a dry run)."}
    )
    methods: list[str] | None = field(
        default=None, metadata={"help": "Run only these methods (the reference among them); the others' runs are kept."}
    )
    train_sizes: list[str] | None = field(
        default=None,
        metadata={"help": "Run only at these of the experiment's train_sizes (e.g. all); slices are drawn as for all."},
    )
    report_only: bool = field(
        default=False,
        metadata={"help": "Train nothing: tables and reports of the runs finished so far, naming the missing ones."},
    )


@dataclass
class PredictArgs:
    model_dir: str = field(metadata=_positional("a model folder (<output_dir>/model of causalclf train)"))
    input: str = field(
        metadata=_positional(
            "csv/tsv/jsonl/json/parquet/txt file (one text per line) or a folder of files (one text per file), read "
            "in chunks"
        )
    )
    output: str | None = field(
        default=None,
        metadata={
            "help": "A .jsonl, .csv or .parquet file (format from the extension), in a folder that exists; it must not "
            "exist yet (see --resume). Default: JSON lines on stdout."
        },
    )
    text: str = field(default="text", metadata={"help": "Text column or template, e.g. '{title}\\n{abstract}'."})
    format: Format = field(default="auto", metadata={"help": "Input format (auto: from the extension)."})
    output_format: OutputFormat | None = field(
        default=None,
        metadata={"help": "Output format (default: from -o's extension; jsonl on stdout, where csv also works)."},
    )
    encoding: str = field(default="utf-8", metadata={"help": "Text encoding of the input."})
    resume: bool = field(
        default=False,
        metadata={
            "help": "Continue the unfinished run writing -o (after a crash or a kill): the committed chunks are kept, "
            "the rest predicted; refused if the model, input or settings differ."
        },
    )
    on_error: Literal["raise", "skip"] = field(
        default="raise",
        metadata={
            "help": "A bad row (empty text, missing field, unparseable line, undecodable bytes): raise stops at the "
            "first, named by file, line and column, before the model loads; skip leaves it out and counts and "
            "lists it in the summary."
        },
    )
    chunk_rows: int | None = field(
        default=None,
        metadata={
            "help": "Input rows predicted and committed together (default 2048; a resumed run keeps its own).",
            "check": positive,
        },
    )
    batch_size: int | None = field(
        default=None, metadata={"help": "Texts per forward pass (default: the model's own).", "check": positive}
    )
    max_batch_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Token-budget batches: as many texts per forward pass as fit this many padded tokens, longest "
            "first "
            "within each chunk, so memory is bounded whatever the text lengths (embedding_head and encoder "
            "models; at least the model's max_length).",
            "check": positive,
        },
    )


@dataclass
class EvaluateArgs:
    model_dir: str = field(metadata=_positional("a model folder"))
    data: str = field(metadata=_positional(DATA_HELP))
    split: str | None = field(
        default=None,
        metadata={
            "help": "Score this split only (default: every row of a plain file; the test split of a named dataset or "
            "of data that comes split)."
        },
    )
    output: str | None = field(default=None, metadata={"help": "Run directory (default: next to the model)."})
    name: str | None = field(default=None, metadata={"help": "Run name in reports."})


@dataclass
class ReportArgs:
    run_dirs: list[str] = field(metadata=_positional("run directories (of causalclf train, evaluate or compare)"))
    output: str = field(default="report", metadata={"help": "Folder for report.md and report.html."})
    title: str = field(default="causalclf report", metadata={"help": "The report's title."})


@dataclass
class DistillArgs:
    teacher_dir: str = field(metadata=_positional("the teacher's model folder"))
    data: str = field(metadata=_positional(DATA_HELP))
    output: str = field(default="runs/distilled", metadata={"help": "Folder for the student and its test run."})
    train_size: int | None = field(
        default=None, metadata={"help": "A stratified sample of the training split (rows).", "check": positive}
    )


@dataclass
class ExplainArgs:
    topic: str | None = field(
        default=None,
        metadata=_positional(
            "a method or run, training, data, distill, experiment, lora, serve; none lists the topics"
        ),
    )


@dataclass
class BenchArgs:
    model_dir: str = field(metadata=_positional("a model folder"))
    input: str | None = field(
        default=None, metadata={"help": "Texts to time (any predict input); default: --data's --split."}
    )
    text: str = field(default="text", metadata={"help": "Text column or template of --input."})
    data: str = field(default="bbc-news", metadata={"help": "Dataset to take texts from when no --input is given."})
    split: str = field(default="test", metadata={"help": "The split of --data."})
    limit: int = field(default=256, metadata={"help": "Time at most this many texts.", "check": positive})
    batch_sizes: list[int] = field(
        default_factory=lambda: [1, 8, 32], metadata={"help": "Batch sizes to time.", "check": each(positive)}
    )
    repeats: int = field(
        default=3, metadata={"help": "Timed passes per batch size (the fastest is kept).", "check": positive}
    )
    output: str | None = field(default=None, metadata={"help": "Also write the results as JSON here."})


@dataclass
class ExportArgs:
    model_dir: str = field(metadata=_positional("a model folder"))
    output: str = field(metadata=_positional("a new or empty folder"))


@dataclass
class DoctorArgs:
    model_dir: str = field(metadata=_positional("a model folder"))
    input: str | None = field(
        default=None, metadata={"help": "Texts to probe with (any predict input); default: built-in probes."}
    )
    text: str = field(default="text", metadata={"help": "Text column or template of --input."})
    limit: int = field(
        default=16, metadata={"help": "Probe with at most this many texts of --input.", "check": positive}
    )
    tolerance: float = field(
        default=1e-4,
        metadata={
            "help": "Largest probability difference accepted (raise it for bf16 or 4-bit models).",
            "check": non_negative,
        },
    )


@dataclass
class ServeArgs:
    model_dir: str = field(metadata=_positional("a model folder"))
    host: str = field(default="127.0.0.1", metadata={"help": "Address to listen on."})
    port: int = field(default=8000, metadata={"help": "Port to listen on (0: any free one).", "check": port})


@dataclass
class QuickstartArgs:
    output_dir: str = field(default="runs/quickstart", metadata={"help": "Folder for the models, runs and report."})


OUTPUT = {"output": ("-o", "--output")}


@dataclass(frozen=True)
class Command:
    """A command: its name, help and arguments; its code is ``causalclf.cli.<name>.run``, imported when it runs."""

    name: str
    help: str
    options: tuple[Options, ...]

    def load(self) -> Callable:
        return importlib.import_module(f"causalclf.cli.{self.name}").run


COMMANDS = (
    Command("train", "train, save and evaluate one YAML config", (Options(TrainArgs),)),
    Command(
        "compare",
        "train every method x seed of a YAML experiment; write the comparison table",
        (Options(CompareArgs),),
    ),
    Command(
        "predict",
        "label the texts of a file of any size with a saved model (resumable; sharded under "
        "accelerate launch / torchrun)",
        (Options(PredictArgs, flags=OUTPUT),),
    ),
    Command(
        "evaluate",
        "score a saved model on a dataset split and write a run dir",
        (Options(EvaluateArgs, flags=OUTPUT),),
    ),
    Command(
        "report",
        "Markdown + HTML report over run directories",
        (Options(ReportArgs, flags=OUTPUT),),
    ),
    Command(
        "distill",
        "distil a saved classifier into an encoder student",
        (
            Options(DistillArgs, flags=OUTPUT),
            Options(EncoderParams, ("model",), flags={"model": ("--student",)}),
            Options(DistillConfig, ("temperature", "alpha", "unlabeled")),
            Options(TrainingConfig, ("epochs",)),
            Options(TrainingConfig, ("learning_rate",), defaults={"learning_rate": FULL_FINETUNE_LEARNING_RATE}),
            Options(EncoderParams, ("max_length", "int8_inference")),
        ),
    ),
    Command(
        "explain",
        "every config key of a method (or of run, training, data, distill, experiment, lora, serve): "
        "type, default and help",
        (Options(ExplainArgs),),
    ),
    Command(
        "bench",
        "inference throughput, memory and MFU of a saved model, per batch size",
        (Options(BenchArgs, flags=OUTPUT),),
    ),
    Command(
        "export",
        "write a saved model as a standard Hugging Face checkpoint (LoRA merged), for transformers' "
        "pipeline and vLLM's pooling runner",
        (Options(ExportArgs),),
    ),
    Command(
        "doctor",
        "check a saved model: valid, deterministic, padding-invariant, round-trips",
        (Options(DoctorArgs),),
    ),
    Command(
        "serve",
        "HTTP inference for a saved model: /classify (vLLM's API), /predict, /metrics, /docs (needs the serve extra)",
        (Options(ServeArgs), Options(ServeOptions)),
    ),
    Command(
        "quickstart",
        "the README's main job on the bundled defaults",
        (Options(QuickstartArgs),),
    ),
)
