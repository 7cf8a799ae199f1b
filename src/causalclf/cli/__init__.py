"""The `causalclf` command line: train, compare, predict, evaluate, report, distill, bench, export, doctor,
serve, explain, quickstart.

A mistake of the user's (a config key, an argument, a path, a row, a model folder: any `UserError`)
ends with one paragraph on stderr and exit code 2, with no traceback unless ``--debug``; anything else
is a bug and keeps its traceback. Arguments are checked as they parse, output paths, the model folder's
config and the inputs before any model weights or data are loaded.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from causalclf.cli.commands import COMMANDS
from causalclf.errors import UserError

# Nothing is fetched from a model hub at run time: every model is bundled, local or cached.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUIET_LOGGERS = {
    # kernels (which transformers installs for bitsandbytes) logs at every import, offline, that it skips a
    # publisher check for a Hub kernel that causalclf never fetches.
    "kernels": logging.ERROR,
    # bitsandbytes' CPU backend, on CPUs with AVX512-BF16, that it could not fetch that same optional kernel.
    "bitsandbytes.backends.cpu.ops": logging.ERROR,
}
"""Third-party loggers whose lines tell a user nothing to act on, and the lowest level of theirs that shows.
Set by name at the entry point, before any of them is imported; every other library's warnings still show."""

QUIET_WARNINGS = (
    # transformers' deprecations of its own API, which peft and the Trainer still call: for their developers
    (FutureWarning, r"transformers\."),
)
"""(category, module) of the Python warnings the command line does not show, for the same reason."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose own complaints (a missing argument, an unknown flag) are user errors like any other."""

    def error(self, message: str):
        raise UserError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="causalclf", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a user error too")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        for options in command.options:
            options.add_to(p)
    return parser


def configure_logging(verbose: bool = False) -> None:
    """causalclf's own messages at INFO (DEBUG with -v); other libraries' at WARNING, but `QUIET_LOGGERS` and
    `QUIET_WARNINGS`."""
    # force: the command line owns the process's logging, and writes to the stderr of this call (main may be
    # called more than once in a process, e.g. by tests capturing its output)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("causalclf").setLevel(logging.DEBUG if verbose else logging.INFO)
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    for category, module in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", category=category, module=module)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    configure_logging(verbose=any(a in ("-v", "--verbose") for a in argv))
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        command = next(c for c in COMMANDS if c.name == args.command)
        values = {name: value for options in command.options for name, value in options.values(args).items()}
        return command.load()(argparse.Namespace(**values))
    except UserError as e:  # a missing optional extra or bundled package included (`MissingDependency`)
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
