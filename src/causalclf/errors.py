"""`UserError`: what the user can fix (a config key, a file, a row, a folder), never a bug of ours.

The command line answers every one with a single paragraph and exit code 2, and shows a
traceback only under ``--debug``. Everything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class UserError(Exception):
    """Input that causalclf refuses, with a message saying what is wrong, where, and what to do."""
