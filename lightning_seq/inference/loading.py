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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lightning_seq.checkpoint_file import read_checkpoint
from lightning_seq.data.datamodule import PaddedBatchesDataModule, ReutersDataModule
from lightning_seq.data.subword import SubwordTokenizer
from lightning_seq.data.text_datamodule import TextFilesDataModule
from lightning_seq.data.tokenizer import WordTokenizer
from lightning_seq.errors import BadCheckpoint, BadValue, UserError, shown_path
from lightning_seq.training.module import SequenceClassifier

# Bookkeeping LightningCLI adds to saved hyperparameters.
_NOT_SETTINGS = ("_instantiator", "_class_path")


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> SequenceClassifier:
    """The :class:`SequenceClassifier` saved in ``path``, in eval mode."""
    read_checkpoint(path)  # clear errors for a missing or foreign file before Lightning's own loader
    model = SequenceClassifier.load_from_checkpoint(path, map_location=map_location, weights_only=True)
    return model.eval()


def data_settings(path: str | Path) -> dict[str, Any]:
    """The DataModule arguments the checkpoint's run used (vocabulary, maxlen, padding, split, files)."""
    saved = read_checkpoint(path).get("datamodule_hyper_parameters")
    if saved is None:
        raise BadCheckpoint(
            f"{path} records no data settings (it was not trained through scripts/fit.py's DataModules); "
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


def datamodule_class(path: str | Path) -> type[PaddedBatchesDataModule]:
    """The DataModule class the checkpoint's run used (runs from before the choice existed used Reuters)."""
    saved = read_checkpoint(path).get("datamodule_hyper_parameters") or {}
    name = str(saved.get("_class_path", "")).rpartition(".")[2]
    return TextFilesDataModule if name == TextFilesDataModule.__name__ else ReutersDataModule


def datamodule_config(path: str | Path) -> dict[str, Any]:
    """``{"class_path": ..., "init_args": ...}`` rebuilding the checkpoint's data for ``validate``/``test``: the
    Reuters settings, or the text files with the checkpoint's own vocabulary and labels (``vocabulary_from``)."""
    cls = datamodule_class(path)
    settings = load_datamodule_settings(path)
    for key in FILE_SETTINGS:
        if settings.get(key) is not None and not isinstance(settings[key], str):
            raise BadCheckpoint(f"{path} records {key} as a {type(settings[key]).__name__}, not a file path")
    if cls is TextFilesDataModule:
        settings["vocabulary_from"] = str(path)
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": settings}


def load_datamodule(path: str | Path, **overrides: Any) -> PaddedBatchesDataModule:
    """The checkpoint's DataModule with its data settings, ``overrides`` (e.g. ``data_dir``) applied.

    ``data_dir`` (where the Reuters files are) means nothing to a run on text files and is left out there; a
    ``test_file`` means nothing to a Reuters run, which tests on the Reuters test split, and is refused.
    """
    config = datamodule_config(path)
    cls = datamodule_class(path)
    given = {key: value for key, value in overrides.items() if value is not None}
    if cls is TextFilesDataModule:
        given.pop("data_dir", None)
    elif "test_file" in given:
        raise BadValue(
            f"a test file ({shown_path(given['test_file'])}) is for checkpoints trained on your own texts; "
            f"{shown_path(path)} is a Reuters run, checked on the Reuters test split: leave the test file out"
        )
    config["init_args"].update(given)
    return cls(**config["init_args"])


# The data files a checkpoint records; a checkpoint from elsewhere chooses them, so they are read with care.
FILE_SETTINGS = ("train_file", "val_file", "test_file")
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


@dataclass(frozen=True)
class CheckpointEncoding:
    """How the checkpoint's training data turned text into ids, and what its outputs mean."""

    tokenizer: WordTokenizer | SubwordTokenizer
    label_names: tuple[str, ...]
    maxlen: int
    truncating: str
    multi_label: bool
    words: list[str] | None  # a fitted vocabulary (text files; subword pieces); None for the Reuters word index
    subword: str | None = None  # a subword tokenizer's JSON (Hugging Face tokenizers)


def checkpoint_encoding(path: str | Path, data_dir: str | None = None) -> CheckpointEncoding:
    """The encoding of ``path``'s data: the vocabulary the checkpoint carries, or for Reuters the word index
    (from ``data_dir``, ``$LIGHTNING_SEQ_DATA`` or the cache) with the checkpoint's ``num_words``/``skip_top``."""
    settings = load_datamodule_settings(path)
    datamodule = load_datamodule(path, data_dir=data_dir)
    if isinstance(datamodule, TextFilesDataModule):
        tokenizer, words = datamodule.text_tokenizer(), datamodule.words
    else:
        skip_top = settings.get("skip_top", 0)
        tokenizer, words = WordTokenizer(datamodule.word_index, datamodule.vocab_size, skip_top), None
    return CheckpointEncoding(
        tokenizer, tuple(datamodule.label_names), settings["maxlen"], settings.get("truncating", "pre"),
        datamodule.multi_label, words, getattr(tokenizer, "serialized", None),
    )  # fmt: skip


def ensemble_encoding(checkpoints: Sequence[str | Path], data_dir: str | None = None) -> CheckpointEncoding:
    """The encoding that every checkpoint of an ensemble shares; one line naming the first that differs.

    Members must read a text as the same ids and name the same labels; they may differ in anything else
    (cell, sizes, n-gram branch, seed). Multi-label checkpoints are refused: each one's thresholds were chosen
    for its own probabilities.
    """
    if not checkpoints:
        raise BadValue("no checkpoint given")
    first = checkpoint_encoding(checkpoints[0], data_dir)
    for checkpoint in checkpoints[1:]:
        encoding = checkpoint_encoding(checkpoint, data_dir)
        if _encoding_key(encoding) != _encoding_key(first):
            raise BadCheckpoint(
                f"{checkpoint} encodes text differently from {checkpoints[0]} (its labels, vocabulary or maxlen "
                "differ): an ensemble averages checkpoints trained on the same data settings"
            )
    if len(checkpoints) > 1 and first.multi_label:
        raise BadValue(
            "an ensemble of multi-label checkpoints is not supported: each member's thresholds were chosen for "
            "its own probabilities; give one multi-label checkpoint"
        )
    return first


def _encoding_key(encoding: CheckpointEncoding) -> tuple:
    """What must match for two checkpoints to read a text as the same ids and name the same labels."""
    tokenizer = encoding.tokenizer
    return (
        encoding.label_names, encoding.words, encoding.subword, encoding.maxlen, encoding.truncating,
        tokenizer.vocab_size, getattr(tokenizer, "skip_top", None),
    )  # fmt: skip
