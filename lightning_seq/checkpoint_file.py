"""Reading a checkpoint file safely: tensors and plain values only, one line for anything unusable.

Checkpoints are read with ``torch.load(weights_only=True)``, so loading one from an untrusted source cannot run
code. At the package's root because every layer reads checkpoints (the text-files DataModule reads a vocabulary).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from lightning_seq.errors import BadCheckpoint, MissingFile


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's contents, loaded without unpickling arbitrary objects.

    Every script that reads a checkpoint comes through here first, so an unusable file gets one message
    naming it. torch's own message is not passed on: for a file that holds other objects it suggests
    ``weights_only=False``, which would run whatever code the file carries.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFile(
            f"checkpoint {path} does not exist; scripts/fit.py writes them to <log dir>/checkpoints/ "
            "(best-*.ckpt, last.ckpt)"
        )
    try:
        # mmap: reading the settings does not pull every tensor into memory; load_model reads the file again
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as error:
        if "weights only" not in str(error).lower():
            raise BadCheckpoint(_unreadable(path, error)) from None
        raise BadCheckpoint(
            f"{path} is not a readable checkpoint: it holds pickled Python objects besides tensors and plain "
            "values, and lightning_seq never unpickles those (loading them could run code in the file); "
            f"use a checkpoint that scripts/fit.py wrote"
        ) from None
    except Exception as error:  # torch raises RuntimeError / EOFError / UnicodeDecodeError / KeyError for junk
        raise BadCheckpoint(_unreadable(path, error)) from None
    missing = [key for key in ("state_dict", "hyper_parameters") if key not in checkpoint]
    if missing:
        raise BadCheckpoint(f"{path} is not a lightning_seq checkpoint: it has no {' or '.join(missing)}")
    return checkpoint


def _unreadable(path: Path, error: Exception) -> str:
    return (
        f"{path} is not a readable checkpoint: it is truncated, corrupted or not a PyTorch checkpoint "
        f"({type(error).__name__}); use a best-*.ckpt or last.ckpt that scripts/fit.py wrote"
    )
