"""Rebuild a trained model and the data settings it was trained with from one checkpoint file.

Checkpoints are read with ``torch.load(weights_only=True)``: tensors and plain Python values only, so
loading a checkpoint from an untrusted source cannot run code (the module keeps its optimizer
factory out of the hyperparameters for exactly this reason).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

from lightning_seq.checkpoint_file import read_checkpoint
from lightning_seq.data.checkpoint_data import (  # noqa: F401  (re-exported: the inference layer's API)
    FILE_SETTINGS,
    CheckpointEncoding,
    checkpoint_encoding,
    data_settings,
    datamodule_class,
    datamodule_config,
    encoding_key,
    ensemble_encoding,
    load_datamodule,
    load_datamodule_settings,
)
from lightning_seq.data.datamodule import PaddedBatchesDataModule
from lightning_seq.data.text_datamodule import TextFilesDataModule
from lightning_seq.errors import BadCheckpoint, UserError, shown_path
from lightning_seq.training.module import SequenceClassifier


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> SequenceClassifier:
    """The :class:`SequenceClassifier` saved in ``path``, in eval mode."""
    read_checkpoint(path)  # clear errors for a missing or foreign file before Lightning's own loader
    model = SequenceClassifier.load_from_checkpoint(path, map_location=map_location, weights_only=True)
    return model.eval()


MISSING_HERE = "does not exist here"


def checkpoint_file_problem(path: object, fmt: str = "auto") -> str | None:
    """Why a data file named by a checkpoint cannot be read here (``"... which <reason>"``), or None if it can.

    Only a regular file is read, or a directory for a run trained on a folder of ``<label>/*.txt``: a device
    (``/dev/zero``), a FIFO or a socket would hang or never end. :data:`MISSING_HERE` when it does not exist.
    """
    if not isinstance(path, str) or not path:
        return "is not a file path"
    try:
        found = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return MISSING_HERE
    except ValueError:  # an embedded NUL
        return "is not a file path"
    except OSError as error:
        return f"cannot be read here ({error.strerror or type(error).__name__})"
    if not (stat.S_ISREG(found.st_mode) or (stat.S_ISDIR(found.st_mode) and fmt in ("auto", "folder"))):
        return "is not a regular file here"
    if not os.access(path, os.R_OK):
        return "cannot be read here (permission denied)"
    return None


@contextmanager
def reading_checkpoint_file(setting: str, path: object, fmt: str, what: str, fix: str) -> Iterator[None]:
    """Read the checkpoint's ``setting`` file (``path``) inside this block, without disclosing what it holds.

    A checkpoint chooses the file, so the file may be anything on this machine (``/etc/shadow``,
    ``/proc/self/environ``): it is read only if :func:`checkpoint_file_problem` allows, and a file that cannot be
    used is named by its path only, never by its content, with ``fix`` (the option naming the user's own file).
    """
    shown = shown_path(path)
    problem = checkpoint_file_problem(path, fmt)
    if problem is not None:
        raise BadCheckpoint(f"the checkpoint names {setting} {shown}, which {problem}; {fix}")
    try:
        yield
    except BadCheckpoint:  # about the checkpoint itself (its vocabulary, labels, sizes): it quotes no file
        raise
    except (UserError, OSError, UnicodeError) as error:
        raise BadCheckpoint(
            f"the checkpoint names {setting} {shown}, which cannot be used as the run's {what} data "
            f"({_reason_without_content(error, str(path))}; its content is not shown, since the checkpoint chose "
            f"the file); {fix}"
        ) from None


def _reason_without_content(error: Exception, path: str) -> str:
    """What went wrong, from the error's type and the line number its message starts with: nothing read."""
    if isinstance(error, UnicodeError):
        return "its bytes are not in the run's encoding"
    if isinstance(error, OSError) and not isinstance(error, UserError):
        return f"reading it failed: {error.strerror or type(error).__name__}"
    message = str(error)
    line = re.match(r" line (\d+)\b", message[len(path) :]) if message.startswith(path) else None
    return "it does not hold the run's format and columns" + (f" (line {line.group(1)})" if line else "")


def setup_checkpoint_data(
    datamodule: PaddedBatchesDataModule, checkpoint: str | Path, stage: str, named: Sequence[str] = ()
) -> None:
    """``datamodule.setup(stage)`` for ``validate``/``test --ckpt_path``: a file the checkpoint chose (not one in
    ``named``, the settings the user gave) is read as :func:`reading_checkpoint_file` says."""
    if not isinstance(datamodule, TextFilesDataModule) or stage not in ("test", "validate"):
        datamodule.setup(stage)
        return
    hp = datamodule.hparams
    setting = "test_file" if stage == "test" else "val_file" if hp.val_file is not None else "train_file"
    path = hp[setting]
    if path is None or setting in named or path != data_settings(checkpoint).get(setting):
        datamodule.setup(stage)  # the user's own file: its usual messages
        return
    option, what = ("--data.test_file", "test") if stage == "test" else ("--data.val_file", "validation")
    with reading_checkpoint_file(setting, path, hp.format, what, f"pass {option} FILE with your own {what} texts"):
        datamodule.setup(stage)
