"""The parser of every front door beside LightningCLI's (predict, export, tune): jsonargparse, like LightningCLI's.

So ``--config FILE`` (a YAML file of the command's options), ``--print_config`` (print them and exit) and ``--help``
behave the same at every door, and a bad option or value is one line naming it (exit status 2), not a usage block.
"""

from __future__ import annotations

from argparse import ArgumentError
from collections.abc import Sequence

from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from lightning_seq.errors import BadValue


def command_parser(prog: str, description: str, epilog: str | None = None) -> ArgumentParser:
    """A jsonargparse parser with ``--config``; it raises typed errors instead of printing usage and exiting."""
    parser = ArgumentParser(prog=prog, description=description, epilog=epilog, exit_on_error=False)
    parser.add_argument("--config", action=ActionConfigFile, help="a YAML file of these options (--print_config)")
    return parser


def parse(parser: ArgumentParser, argv: Sequence[str] | None) -> Namespace:
    """``argv`` parsed; a bad option or value raises :class:`~lightning_seq.errors.BadValue` in one line."""
    try:
        return parser.parse_args(None if argv is None else list(argv))
    except ArgumentError as error:
        raise BadValue(f"{one_line(str(error))} (see --help)") from None


def one_line(message: str) -> str:
    """A parser's multi-line message on one line."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip())
