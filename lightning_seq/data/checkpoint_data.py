"""What a checkpoint says about its data: the DataModule settings it was trained with, and how it turns text into ids.

Read from the checkpoint's plain values (``weights_only``), with no model code, so that the training, inference and
front-door layers can all ask whether two checkpoints (an ensemble's members, a teacher and its student) read text
the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_seq.checkpoint_file import read_checkpoint
from lightning_seq.data.datamodule import PaddedBatchesDataModule, ReutersDataModule
from lightning_seq.data.subword import SubwordTokenizer
from lightning_seq.data.text_datamodule import TextFilesDataModule
from lightning_seq.data.tokenizer import WordTokenizer
from lightning_seq.errors import BadCheckpoint, BadValue, shown_path

# Bookkeeping LightningCLI adds to saved hyperparameters.
_NOT_SETTINGS = ("_instantiator", "_class_path")
# The data files a checkpoint records; a checkpoint from elsewhere chooses them, so they are read with care.
FILE_SETTINGS = ("train_file", "val_file", "test_file")


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
        if encoding_key(encoding) != encoding_key(first):
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


def encoding_key(encoding: CheckpointEncoding) -> tuple:
    """What must match for two checkpoints to read a text as the same ids and name the same labels."""
    tokenizer = encoding.tokenizer
    return (
        encoding.label_names, encoding.words, encoding.subword, encoding.maxlen, encoding.truncating,
        tokenizer.vocab_size, getattr(tokenizer, "skip_top", None),
    )  # fmt: skip
