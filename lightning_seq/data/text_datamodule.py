"""The user's own labelled texts as a LightningDataModule: ``--data TextFilesDataModule --data.train_file FILE``.

The vocabulary and the label names are fitted on the training file (validation rows held out from it never
count) and travel in every checkpoint (this module's ``state_dict``), so that testing, predicting and exporting
need only the checkpoint: ``vocabulary_from`` reads them back instead of fitting new ones.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from lightning_seq.checkpoint_file import read_checkpoint
from lightning_seq.constraints import Fraction, NonNegativeInt, PositiveInt, VocabularyWords, check_ranges
from lightning_seq.data.batching import PaddedDataset
from lightning_seq.data.datamodule import PaddedBatchesDataModule
from lightning_seq.data.sequences import INDEX_FROM, Ragged
from lightning_seq.data.subword import SubwordTokenizer, train_subword
from lightning_seq.data.text_files import Columns, Format, TextRow, check_encoding, read_rows
from lightning_seq.data.tokenizer import WordTokenizer, split_words
from lightning_seq.data.vocabulary import StreamingEncoder, encode_texts, ids_to_ragged, vocabulary_tokenizer
from lightning_seq.errors import BadCheckpoint, BadValue

Side = Literal["pre", "post"]
_INTEGER = re.compile(r"-?[0-9]+")  # ASCII digits only: int() also reads other scripts' digits, but not "²"
STATE_KEY = "TextFilesDataModule"  # where Lightning stores this module's state_dict in a checkpoint


class TextFilesDataModule(PaddedBatchesDataModule):
    """Labelled texts from CSV/TSV, JSON lines, a folder per label, or fastText lines.

    Args:
        train_file: The training texts (a file, or a folder of ``<label>/*.txt``). The vocabulary and the label set
            come from it.
        val_file: Validation texts; without one, ``val_split`` of the training rows are held out.
        test_file: Test texts, read once by the test after fitting (optional).
        format: ``auto`` (by the suffix: .csv, .tsv, .jsonl; a folder; fastText when lines start ``__label__``),
            or ``csv``, ``tsv``, ``jsonl``, ``folder``, ``fasttext``.
        text_column: The text's column (CSV/TSV header) or key (JSON lines).
        label_column: The label's column or key; in JSON a list of labels makes a row multi-label.
        label_separator: Splits a CSV/TSV label cell into several labels (e.g. ``|`` for ``grain|wheat``).
        multi_label: ``None`` detects it (a row with several labels, or JSON lists); ``true`` trains independent
            sigmoid outputs even when every row has one label; ``false`` refuses rows with several.
        encoding: The files' text encoding.
        num_words: Vocabulary size including the 3 reserved ids (padding, start, unknown): keeps the
            ``num_words - 3`` most frequent training words; ``None`` keeps every word seen ``min_count`` times.
        min_count: Words seen fewer times in the training rows become the unknown id.
        maxlen: Longest sequence fed to the model; longer texts are cut (``truncating`` says from which end).
        truncating: ``pre`` keeps a long text's last ``maxlen`` tokens (as the Reuters recipes do), ``post`` its first.
        val_split: Fraction of the training rows held out for validation when there is no ``val_file``.
        val_seed: Seed of that draw.
        batch_size: Items per batch.
        bucketing: Batch texts of similar length together and trim each batch to its longest member.
        bucket_batches: With bucketing, how many batches' worth of shuffled items are sorted together.
        num_workers: DataLoader workers; 0 is fastest, the data is an in-memory tensor.
        pin_memory: Page-locked batches for GPU copies; ``None`` pins on CUDA.
        vocabulary_from: A checkpoint whose vocabulary and label names to use instead of fitting them (set by
            ``test``/``validate --ckpt_path``; ``train_file`` is then not read unless fitting).
        tokenizer: ``words`` (the package's word splitting, a vocabulary of whole words), or a subword vocabulary
            trained on the training rows with Hugging Face ``tokenizers``: ``bpe`` or ``wordpiece`` (``num_words``
            is then its size, default 30,000; needs the ``subword`` extra).
    """

    def __init__(
        self,
        train_file: str | None = None,
        val_file: str | None = None,
        test_file: str | None = None,
        format: Format = "auto",
        text_column: str = "text",
        label_column: str = "label",
        label_separator: str | None = None,
        multi_label: bool | None = None,
        encoding: str = "utf-8",
        num_words: VocabularyWords | None = None,
        min_count: PositiveInt = 1,
        maxlen: PositiveInt = 200,
        truncating: Side = "pre",
        val_split: Fraction = 0.2,
        val_seed: int = 0,
        batch_size: PositiveInt = 128,
        bucketing: bool = True,
        bucket_batches: PositiveInt = 50,
        num_workers: NonNegativeInt = 0,
        pin_memory: bool | None = None,
        vocabulary_from: str | None = None,
        tokenizer: Literal["words", "bpe", "wordpiece"] = "words",
    ) -> None:
        super().__init__()
        check_ranges(TextFilesDataModule.__init__, locals())
        if train_file is None and vocabulary_from is None:
            raise BadValue("--data.train_file is required: the labelled texts to train on (CSV, TSV, JSONL, a folder)")
        check_encoding(encoding)
        if label_separator == "":
            raise BadValue("--data.label_separator must not be empty; use e.g. '|' or leave it unset")
        self.save_hyperparameters()
        self.columns = Columns(text_column, label_column, None, label_separator)
        self._words: list[str] | None = None
        self._labels: tuple[str, ...] | None = None
        self._multi: bool | None = None
        self._subword: str | None = None  # a trained subword tokenizer's JSON
        self._fitted: tuple[Ragged, np.ndarray] | None = None  # the training file's rows and the held-out ones
        self._keys: np.ndarray | None = None  # each training-file row's text key (see _text_key), once read
        self._file_keys: dict[str, np.ndarray] = {}  # the same of the val_file / test_file, read as they are encoded
        self._overlap: dict[str, tuple[int, int]] = {}  # split -> (its texts also in training, its texts)

    # -- what the model is built from (read lazily: the CLI links these at instantiation) --------------------

    @property
    def vocab_size(self) -> int:
        return len(self.words) + INDEX_FROM

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def label_names(self) -> tuple[str, ...]:
        self._prepare_encoding()
        return self._labels

    @property
    def multi_label(self) -> bool:
        self._prepare_encoding()
        return self._multi

    @property
    def words(self) -> list[str]:
        """The vocabulary: word ``i`` is token id ``i + 3``."""
        self._prepare_encoding()
        return self._words

    @property
    def vocabulary(self) -> dict[str, int]:
        """Word -> token id (for pretrained embeddings)."""
        return {word: rank + INDEX_FROM for rank, word in enumerate(self.words)}

    def split_overlap(self) -> dict[str, tuple[int, int]]:
        """``{"val": (shared, total), "test": (shared, total)}``: how many validation and test texts also occur in
        the training rows, as measured when fitting (a split that was not compared is absent; nothing is measured
        when the vocabulary comes from a checkpoint). Texts count as identical when their words are (lower case,
        punctuation removed: what the model reads), so a copy that differs only in case or punctuation counts."""
        return dict(self._overlap)

    # -- Lightning hooks ------------------------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        pad = {"maxlen": hp.maxlen, "truncating": hp.truncating, "trim": hp.bucketing}
        if stage in ("fit", "validate", None) and "val" not in self.datasets:
            if stage in ("fit", None) or hp.val_file is None:
                train, held_out = self._training_rows()
                if stage in ("fit", None):
                    self.datasets["train"] = PaddedDataset(train.select(np.flatnonzero(~held_out)), **pad)
                if hp.val_file is None and held_out.any():
                    self.datasets["val"] = PaddedDataset(train.select(np.flatnonzero(held_out)), **pad)
            if hp.val_file is not None:
                self.datasets["val"] = PaddedDataset(self._encode_file(hp.val_file, "val_file"), **pad)
            if stage in ("fit", None):
                self._measure_overlap()
        if stage in ("test", "predict", None) and "test" not in self.datasets:
            if hp.test_file is None:
                if stage == "test":
                    raise BadValue("no --data.test_file to test on; give one (CSV, TSV, JSONL, folder, fastText)")
            else:
                self.datasets["test"] = PaddedDataset(self._encode_file(hp.test_file, "test_file"), **pad)

    def read_every_file(self, test: bool = True) -> None:
        """Read and encode the validation and (with ``test``) test files now, at the start of a fit.

        Lightning's ``setup`` runs once the logger has opened the run's directory, and the test file is read only
        after training: a bad row there would cost the whole training and leave a run behind. Read up front, it is
        refused before the run writes anything; ``setup`` then finds the datasets ready.
        """
        if test and self.hparams.test_file is None:
            raise BadValue(
                "no --data.test_file to test the best checkpoint on after fitting; give one (CSV, TSV, JSONL, folder, "
                "fastText), or pass --test_after_fit false to fit only"
            )
        self.setup("fit")
        if test:
            self.setup("test")

    def state_dict(self) -> dict:
        """The vocabulary and labels (plain lists: the checkpoint still loads with ``weights_only``) and the
        training position."""
        return {
            **super().state_dict(),
            "words": self.words,
            "labels": list(self.label_names),
            "multi_label": self.multi_label,
            "subword": self._subword,  # the subword tokenizer's JSON, or None for a word vocabulary
        }

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        if "words" not in state_dict:
            return
        ours = (self.words, list(self.label_names), self.multi_label)
        theirs = (state_dict["words"], state_dict["labels"], state_dict["multi_label"])
        if ours != theirs:
            which = [
                name for name, a, b in zip(("vocabulary", "labels", "multi_label"), ours, theirs, strict=True) if a != b
            ]
            raise BadCheckpoint(
                f"the checkpoint's {' and '.join(which)} differ from what {self.hparams.train_file} gives now "
                "(the file or the vocabulary settings changed); resume with the same data, or start a new run"
            )

    # -- reading ----------------------------------------------------------------------------------------------

    def _prepare_encoding(self) -> None:
        if self._words is not None:
            return
        if self.hparams.vocabulary_from is not None:
            self._read_encoding(self.hparams.vocabulary_from)
        else:
            self._training_rows()

    def _read_encoding(self, checkpoint: str) -> None:
        saved = read_checkpoint(checkpoint)
        state = saved.get(STATE_KEY)
        if not isinstance(state, dict) or "words" not in state:
            raise BadCheckpoint(f"{checkpoint} holds no vocabulary: it was not trained with a TextFilesDataModule")
        words, labels, multi, subword = (state.get(key) for key in ("words", "labels", "multi_label", "subword"))
        model = saved.get("hyper_parameters") if isinstance(saved.get("hyper_parameters"), dict) else {}
        problem = _encoding_problem(words, labels, multi, subword, model)
        if problem:
            raise BadCheckpoint(f"{checkpoint}: {problem}; it was not written by this package's fit, or was altered")
        self._words, self._labels, self._multi, self._subword = list(words), tuple(labels), multi, subword

    def text_tokenizer(self) -> WordTokenizer | SubwordTokenizer:
        """Raw text -> ids as the training data was encoded (for predict and serving)."""
        self._prepare_encoding()
        return SubwordTokenizer(self._subword) if self._subword else vocabulary_tokenizer(self.words)

    def _rows(self, path: str) -> Iterable[TextRow]:
        return read_rows(path, self.hparams.format, self.columns, self.hparams.encoding)

    def _training_rows(self) -> tuple[Ragged, np.ndarray]:
        """All rows of the training file encoded with the vocabulary fitted on the non-held-out ones, and which
        rows are held out."""
        if self._fitted is not None:
            return self._fitted
        hp = self.hparams
        if hp.train_file is None:
            raise BadValue("--data.train_file is required to fit: the labelled texts to train on")
        if hp.vocabulary_from is not None and self._words is None:
            self._read_encoding(hp.vocabulary_from)
        if hp.tokenizer != "words" or self._subword is not None:
            return self._training_rows_subword()
        labels, keys = _LabelCollector(hp.train_file, hp.multi_label), array("q")
        if self._words is not None:  # a checkpoint's vocabulary (vocabulary_from): encode with it, fit nothing
            words = self._words
            encoded = encode_texts(_texts_and_labels(self._rows(hp.train_file), labels, keys), words)
            tokens, offsets = encoded.tokens, encoded.offsets
        else:
            encoder = StreamingEncoder()
            for text in _texts_and_labels(self._rows(hp.train_file), labels, keys):
                encoder.add(text)
        held_out = self._split(len(labels))
        self._keys = np.frombuffer(keys, dtype=np.int64)
        names, multi = labels.names(), labels.is_multi()
        self._check_given_labels(names, multi)
        if self._words is None:
            words, tokens = encoder.fit(np.flatnonzero(~held_out), hp.num_words, hp.min_count)
            offsets = np.concatenate([[0], np.cumsum(encoder.lengths)])
        self._words, self._labels, self._multi = words, names, multi
        self._fitted = (Ragged(tokens, offsets, labels.array(names, multi)), held_out)
        return self._fitted

    def _split(self, rows: int) -> np.ndarray:
        """Which of the training file's ``rows`` are held out; refused when either side would be empty."""
        hp = self.hparams
        if hp.val_file is not None or not hp.val_split:
            return _held_out(rows, 0.0, hp.val_seed)
        held_out = _held_out(rows, hp.val_split, hp.val_seed)
        validation = int(held_out.sum())
        if validation == rows:
            raise BadValue(
                f"--data.val_split {hp.val_split} holds out all {rows} rows of {hp.train_file} for validation, "
                "leaving none to train on; lower --data.val_split (e.g. 0.2), add rows, or give a --data.val_file"
            )
        if validation == 0:
            raise BadValue(
                f"--data.val_split {hp.val_split} of the {rows} rows of {hp.train_file} holds out none for "
                f"validation (round({rows} x {hp.val_split}) = 0); raise --data.val_split to at least "
                f"{0.5 / rows:.3g}, add rows, or give a --data.val_file"
            )
        return held_out

    def _measure_overlap(self) -> None:
        """Count the validation and test texts that also occur in the training rows, and warn about any.

        A test text seen in training scores as if the model generalised to it. Texts are compared by a 64-bit
        key of their words (see :func:`_text_key`), taken as the validation and test files are encoded (each is read
        once: the test file is encoded now, and the test after fitting reuses it).
        """
        if self._keys is None or self._overlap:  # nothing read from the training file here (a checkpoint's)
            return
        hp = self.hparams
        _, held_out = self._training_rows()
        training = np.unique(self._keys[~held_out])
        if hp.test_file is not None:
            self.setup("test")  # encodes the test file now, once: its keys come with it, and the test reuses it
        validation = self._file_keys.get("val_file") if hp.val_file else self._keys[held_out]
        splits = {"val": (hp.val_file, validation), "test": (hp.test_file, self._file_keys.get("test_file"))}
        for split, (path, keys) in splits.items():
            if keys is None or not len(keys):
                continue
            shared = int(np.isin(keys, training).sum())
            self._overlap[split] = (shared, len(keys))
            if shared and rank_zero_only.rank == 0:
                if path is None:
                    source = f"rows held out of {hp.train_file} by --data.val_split"
                elif Path(path).resolve() == Path(hp.train_file).resolve():
                    source = f"--data.{split}_file is the training file {path}"
                else:
                    source = f"--data.{split}_file {path}"
                message = (
                    f"{shared:,} of {len(keys):,} {split} texts ({source}) also occur in the training rows of "
                    f"{hp.train_file} (same words); their {split} scores are not scores on unseen text: remove "
                    "the copies from one side, or give separate files"
                )
                # one line (a warning's usual second line would quote this source file, which says nothing)
                warnings.warn_explicit(message, SplitOverlapWarning, str(path or hp.train_file), 0)

    def _check_given_labels(self, names: tuple[str, ...], multi: bool) -> None:
        """With ``vocabulary_from``, the training file must have the checkpoint's labels (its output rows)."""
        if self._labels is not None and (list(names), multi) != (list(self._labels), self._multi):
            raise BadCheckpoint(
                f"--data.vocabulary_from {self.hparams.vocabulary_from} was trained on other labels than "
                f"{self.hparams.train_file} has; fit without vocabulary_from, or on data with the same labels"
            )

    def _training_rows_subword(self) -> tuple[Ragged, np.ndarray]:
        """As :meth:`_training_rows`, with a subword tokenizer trained on the training rows (three reads of the
        file: labels and row count, training the tokenizer, encoding)."""
        hp = self.hparams
        labels, keys = _LabelCollector(hp.train_file, hp.multi_label), array("q")
        for _ in _texts_and_labels(self._rows(hp.train_file), labels, keys):
            pass
        held_out = self._split(len(labels))
        self._keys = np.frombuffer(keys, dtype=np.int64)
        names, multi = labels.names(), labels.is_multi()
        self._check_given_labels(names, multi)
        if self._subword is None:
            training = (row.text for row, out in zip(self._rows(hp.train_file), held_out, strict=True) if not out)
            self._subword = train_subword(hp.tokenizer, training, hp.num_words, hp.min_count)
        tokenizer = SubwordTokenizer(self._subword)
        texts = (row.text for row in self._rows(hp.train_file))
        self._words, self._labels, self._multi = tokenizer.pieces(), names, multi
        self._fitted = (ids_to_ragged(tokenizer.encode_many(texts), labels.array(names, multi)), held_out)
        return self._fitted

    def _encode_file(self, path: str, setting: str) -> Ragged:
        """A validation or test file with the fitted vocabulary; its labels must all be training labels."""
        known = {name: index for index, name in enumerate(self.label_names)}
        labels = _LabelCollector(path, self.multi_label)
        texts = []
        for row in self._rows(path):
            unseen = [label for label in row.labels if label not in known]
            if unseen:
                raise BadValue(
                    f"{row.where}: label {unseen[0]!r} never occurs in the training file {self.hparams.train_file}, so "
                    f"the model cannot predict it; add training rows with it or drop it from the {setting}"
                )
            labels.add(row)
            texts.append(row.text)
        self._file_keys[setting] = np.fromiter(map(_text_key, texts), dtype=np.int64, count=len(texts))
        targets = labels.array(self.label_names, self.multi_label)
        if self._subword:
            return ids_to_ragged(SubwordTokenizer(self._subword).encode_many(texts), targets)
        return encode_texts(texts, self.words, targets)


class SplitOverlapWarning(UserWarning):
    """Validation or test texts that also occur in the training rows."""


def _texts_and_labels(rows: Iterable[TextRow], labels: _LabelCollector, keys: array) -> Iterator[str]:
    """Each row's text, its labels and its :func:`_text_key` collected on the way (one read of the file for all)."""
    for row in rows:
        labels.add(row)
        keys.append(_text_key(row.text))
        yield row.text


def _text_key(text: str) -> int:
    """A 64-bit key of the text's words (lower case, punctuation removed), equal for texts the model reads alike."""
    words = " ".join(split_words(text)).encode("utf-8", "surrogatepass")  # JSON may escape a lone surrogate
    return int.from_bytes(hashlib.blake2b(words, digest_size=8).digest(), "little", signed=True)


class _LabelCollector:
    """Every row's labels as ids into a growing table, then as class ids or a multi-hot matrix in the final order."""

    def __init__(self, source: str, multi_label: bool | None) -> None:
        self.source, self.configured = source, multi_label
        self.index: dict[str, int] = {}
        self.ids, self.offsets = array("i"), array("q", [0])
        self.list_rows: str | None = None  # where a JSON list of labels was seen
        self.single_rows: str | None = None  # where a JSON string label was seen
        self.several: str | None = None  # the first row with more than one label

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def add(self, row: TextRow) -> None:
        if row.labels is None:
            raise BadValue(f"{row.where}: no label; every training, validation and test row needs one")
        if row.listed is True:
            self.list_rows = self.list_rows or row.where
        elif row.listed is False:
            self.single_rows = self.single_rows or row.where
        if len(row.labels) > 1:
            self.several = self.several or row.where
            if self.configured is False:
                raise BadValue(f"{row.where}: labels {list(row.labels)} but --data.multi_label false; give one label")
        self.ids.extend([self.index.setdefault(label, len(self.index)) for label in dict.fromkeys(row.labels)])
        self.offsets.append(len(self.ids))

    def names(self) -> tuple[str, ...]:
        """The label set in a stable order: numeric when every label is a number, else alphabetical."""
        names = list(self.index)
        if len(names) < 2:
            raise BadValue(
                f"{self.source} has a single label ({names[0]!r}); a classifier needs at least two: add rows of "
                "other labels"
            )
        numeric = all(_INTEGER.fullmatch(name) for name in names)  # "--1" or "\u00b2" are not numbers: alphabetical
        return tuple(sorted(names, key=lambda name: (int(name), name)) if numeric else sorted(names))

    def is_multi(self) -> bool:
        if self.list_rows and self.single_rows:
            raise BadValue(
                f"{self.source}: the label column mixes single labels ({self.single_rows}) and lists "
                f"({self.list_rows}); write every row's labels the same way (a list for multi-label data)"
            )
        if self.configured is not None:
            return self.configured
        return bool(self.several or self.list_rows)

    def array(self, names: tuple[str, ...], multi: bool) -> np.ndarray:
        """Class ids ``(rows,)``, or for multi-label a 0/1 matrix ``(rows, classes)``, in the order of ``names``."""
        final = {name: position for position, name in enumerate(names)}
        remap = np.array([final[name] for name in self.index], dtype=np.int64)
        ids = remap[np.frombuffer(self.ids, dtype=np.int32)] if len(self.ids) else np.zeros(0, np.int64)
        offsets = np.frombuffer(self.offsets, dtype=np.int64)
        if not multi:
            return ids  # one label per row: checked in add()
        matrix = np.zeros((len(offsets) - 1, len(names)), dtype=np.uint8)
        matrix[np.repeat(np.arange(len(offsets) - 1), np.diff(offsets)), ids] = 1
        return matrix


def _held_out(rows: int, fraction: float, seed: int) -> np.ndarray:
    """Which rows are validation: ``round(rows * fraction)`` of them, drawn with ``seed`` (as the Reuters split)."""
    mask = np.zeros(rows, dtype=bool)
    if fraction:
        mask[np.random.default_rng(seed).permutation(rows)[: round(rows * fraction)]] = True
    return mask


def _encoding_problem(words: object, labels: object, multi: object, subword: object, model: dict) -> str | None:
    """What is wrong with a checkpoint's vocabulary and labels (a stranger's checkpoint may hold anything), or None."""
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
        return "its vocabulary is not a list of words"
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(label, str) for label in labels):
        return "its labels are not a list of two or more names"
    if len(set(labels)) != len(labels):
        return "its labels repeat a name"
    if not isinstance(multi, bool) or not (subword is None or isinstance(subword, str)):
        return "its multi_label or subword setting has the wrong type"
    if model.get("num_classes") not in (None, len(labels)):
        return f"it names {len(labels)} labels for a model of {model['num_classes']} classes"
    if model.get("vocab_size") not in (None, len(words) + INDEX_FROM):
        return f"its vocabulary of {len(words):,} words does not fit a model of vocab_size {model['vocab_size']}"
    return None
