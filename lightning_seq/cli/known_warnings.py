"""The library warnings a run of this package triggers although nothing is wrong, each silenced only there.

:func:`expected_library_warnings` is entered around one LightningCLI run; every filter names one message and its
category, so any other warning (the user's, or a new one from a library) still shows.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

from lightning.fabric.utilities.warnings import PossibleUserWarning

KNOWN: tuple[tuple[str, type[Warning]], ...] = (
    # The data is an in-memory tensor index: worker processes would only add start-up and copies.
    (r".*does not have many workers.*", PossibleUserWarning),
    # The module logs epoch values that torchmetrics already gathered from every DDP rank; Lightning cannot know.
    (r".*when logging on epoch level in distributed setting.*", PossibleUserWarning),
    # The front doors hand LightningCLI their own command line, short flags expanded, as `args`.
    (r".*not recommended to provide both args and command line arguments.*", UserWarning),
    # Lightning's own use of a torch pytree class that torch deprecates; nothing for the user to change.
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated.*", FutureWarning),
)


@contextlib.contextmanager
def expected_library_warnings() -> Iterator[None]:
    """Ignore :data:`KNOWN` inside the block; the process-wide filters are untouched afterwards."""
    with warnings.catch_warnings():
        for message, category in KNOWN:
            warnings.filterwarnings("ignore", message, category)
        yield
