"""`UserError`: what the user can fix (a config key, a file, a row, a folder), never a bug of ours.

The command line answers every one with a single paragraph and exit code 2, and shows a
traceback only under ``--debug``. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Input that causalclf refuses, with a message saying what is wrong, where, and what to do."""


class ConfigError(UserError, ValueError):
    """A config key or option is missing, unknown, of the wrong type or out of range."""


class MissingDependency(UserError, ImportError):
    """An optional extra or a bundled package that is not installed; the message says how to install it."""
