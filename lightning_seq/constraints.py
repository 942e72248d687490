"""Ranges of the numeric settings, as types: the CLI refuses a bad value while parsing, before anything is built.

The same types check the values again in ``__init__``, for Python callers that never pass through the parser.
LightningCLI hands the parsed values over as instances of these ``int`` / ``float`` subclasses;
:func:`plain_number` turns them back into built-ins so that hyperparameters and checkpoints hold plain numbers.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from jsonargparse.typing import NonNegativeInt, PositiveFloat, PositiveInt, restricted_number_type

from lightning_seq.errors import BadValue

__all__ = [
    "Fraction", "NonNegativeInt", "PositiveFloat", "PositiveInt", "VocabularyWords", "check_ranges", "plain_number",
    "require",
]  # fmt: skip

Fraction = restricted_number_type("Fraction", float, [(">=", 0), ("<", 1)], docstring="a number in [0, 1)")
# Ids 0-2 are padding, start and OOV, so a vocabulary needs at least one id above them.
VocabularyWords = restricted_number_type("VocabularyWords", int, (">", 3), docstring="an integer > 3")

DESCRIPTIONS: dict[type, str] = {
    PositiveInt: "a positive integer",
    NonNegativeInt: "an integer >= 0",
    PositiveFloat: "a number > 0",
    Fraction: "in [0, 1)",
    VocabularyWords: "> 3 (ids 0-2 are reserved) or None",
}


def require(name: str, value: Any, kind: type) -> None:
    """Raise :class:`BadValue` naming ``name`` unless ``value`` is of the restricted type ``kind``."""
    try:
        if isinstance(value, bool) or (issubclass(kind, int) and value != int(value)):
            raise ValueError
        kind(value)
    except (TypeError, ValueError):
        raise BadValue(f"{name} must be {DESCRIPTIONS[kind]}, got {value!r}") from None


def check_ranges(function: Callable, arguments: Mapping[str, Any]) -> None:
    """Check each of ``function``'s arguments whose annotation is a restricted type (or one ``| None``)."""
    hints = typing.get_type_hints(function)
    for name, value in arguments.items():
        hint = hints.get(name)
        optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
        kinds = [kind for kind in typing.get_args(hint) or (hint,) if kind in DESCRIPTIONS]
        if kinds and not (optional and value is None):
            require(name, value, kinds[0])


def plain_number(value: Any) -> Any:
    """The plain ``int`` / ``float`` inside a restricted number; any other value as it is."""
    if isinstance(value, int) and not isinstance(value, bool) and type(value) is not int:
        return int(value)
    if isinstance(value, float) and type(value) is not float:
        return float(value)
    return value
