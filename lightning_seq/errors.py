"""Errors that are the user's to fix, and the front doors' way of reporting them.

A bad setting, file or input is not a bug: the scripts print its message as one line (``error: …``,
naming the value and the fix) and exit with status 2. Anything else is a bug and keeps its traceback.
Each class also derives from the built-in exception a Python caller would expect (``ValueError``,
``FileNotFoundError``, ``OSError``), so library code can catch either.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

USAGE_ERROR = 2  # the exit status argparse and LightningCLI use for bad arguments

P = ParamSpec("P")
R = TypeVar("R")


EXCERPT_CHARS = 40  # the most of a file's or request's content one message quotes (escaped)
SHOWN_PATH_CHARS = 200  # the most of a path one message shows


def excerpt(value: str, limit: int = EXCERPT_CHARS) -> str:
    """``value`` quoted and escaped like ``ascii()`` (no control characters, no line breaks), cut to about
    ``limit`` characters with ``...`` after the quote when cut: what a one-line message may quote of an input."""
    shown: list[str] = []
    size = 0
    for char in value:
        escaped = "\\'" if char == "'" else ascii(char)[1:-1]
        if size + len(escaped) > limit:
            return "'" + "".join(shown) + "'..."
        shown.append(escaped)
        size += len(escaped)
    return "'" + "".join(shown) + "'"


def shown_path(path: object, limit: int = SHOWN_PATH_CHARS) -> str:
    """A path as a one-line message may show it: printable (escaped when it holds control characters), bounded."""
    text = str(path)
    text = text if text.isprintable() else ascii(text)
    return text if len(text) <= limit else text[:limit] + "..."


class UserError(Exception):
    """Something the user gave (a setting, a file, a text) cannot be used; the message says what and how to fix it."""


class BadValue(UserError, ValueError):
    """A setting or input outside what it may be."""


class BadCheckpoint(UserError, ValueError):
    """A checkpoint file that cannot be read, or that belongs to another model."""


class MissingFile(UserError, FileNotFoundError):
    """A file or run the user named does not exist."""


class NotWritable(UserError, OSError):
    """A place the run must write to cannot be written."""


class TrainingDiverged(UserError, FloatingPointError):
    """The loss stopped being a finite number; the fix is a setting (learning rate, clipping, precision)."""


def report_user_errors(main: Callable[P, R]) -> Callable[P, R]:
    """Wrap a script's ``main``: a :class:`UserError` becomes ``error: <message>`` on stderr and exit status 2."""

    @functools.wraps(main)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return main(*args, **kwargs)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            raise SystemExit(USAGE_ERROR) from None

    return wrapper
