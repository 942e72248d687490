"""Rebuild a trained model and the data settings it was trained with from one checkpoint file.

Checkpoints are read with ``torch.load(weights_only=True)``: tensors and plain Python values only, so
loading a checkpoint from an untrusted source cannot run code (the module keeps its optimizer
factory out of the hyperparameters for exactly this reason).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.errors import BadCheckpoint, MissingFile
from lightning_seq.training.module import SequenceClassifier

# Bookkeeping LightningCLI adds to saved hyperparameters.
_NOT_SETTINGS = ("_instantiator", "_class_path")


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


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> SequenceClassifier:
    """The :class:`SequenceClassifier` saved in ``path``, in eval mode."""
    read_checkpoint(path)  # clear errors for a missing or foreign file before Lightning's own loader
    model = SequenceClassifier.load_from_checkpoint(path, map_location=map_location, weights_only=True)
    return model.eval()


def data_settings(path: str | Path) -> dict[str, Any]:
    """The :class:`ReutersDataModule` arguments the checkpoint's run used (vocabulary, maxlen, padding, split)."""
    saved = read_checkpoint(path).get("datamodule_hyper_parameters")
    if saved is None:
        raise BadCheckpoint(
            f"{path} records no data settings (it was not trained with a ReutersDataModule); "
            "the vocabulary and padding it expects are unknown"
        )
    return {key: value for key, value in saved.items() if key not in _NOT_SETTINGS}


def load_datamodule_settings(path: str | Path) -> dict[str, Any]:
    """The checkpoint's data settings as this machine can use them.

    A ``data_dir`` recorded at training time that does not exist here is dropped, so that
    ``$LIGHTNING_SEQ_DATA`` or the user cache is used instead.
    """
    settings = data_settings(path)
    recorded = settings.get("data_dir")
    if recorded and not Path(recorded).expanduser().is_dir():
        settings["data_dir"] = None
    return settings


def load_datamodule(path: str | Path, **overrides: Any) -> ReutersDataModule:
    """A :class:`ReutersDataModule` with the checkpoint's data settings, ``overrides`` (e.g. ``data_dir``) applied."""
    settings = load_datamodule_settings(path)
    settings.update({key: value for key, value in overrides.items() if value is not None})
    return ReutersDataModule(**settings)
