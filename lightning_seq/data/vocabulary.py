"""A word vocabulary fitted on the training texts only, and texts encoded with it in one streaming pass.

Texts are split with the package's word rules (:func:`~lightning_seq.data.tokenizer.split_words`, the Reuters
encoding's), and ids follow the Reuters convention: 0 padding, 1 start (first in every sequence), 2 out of
vocabulary, then the kept words from 3, most frequent first (ties in alphabetical order, so the same file always
gives the same ids). A word the vocabulary lacks becomes id 2 instead of disappearing.

:class:`StreamingEncoder` reads each text once: words get provisional ids in first-seen order, stored as int32,
so nothing per row stays in memory as a Python object. The vocabulary is then fitted by counting the provisional
ids of the training rows only (rows held out for validation, and other files, never count), and every stored
sequence is remapped with one array lookup.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from lightning_seq.data.sequences import INDEX_FROM, OOV_ID, START_ID, Ragged
from lightning_seq.data.tokenizer import WordTokenizer, split_words


class StreamingEncoder:
    """Texts -> provisional word ids (int32, flat) with row offsets; :meth:`fit` turns them into a vocabulary."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.tokens = array("i")
        self.offsets = array("q", [0])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def add(self, text: str) -> None:
        index = self.index
        self.tokens.extend([index.setdefault(word, len(index)) for word in split_words(text)])
        self.offsets.append(len(self.tokens))

    def fit(
        self, training_rows: np.ndarray, num_words: int | None = None, min_count: int = 1
    ) -> tuple[list[str], np.ndarray]:
        """The vocabulary (words for ids 3, 4, ...) from ``training_rows`` only, and every row's ids remapped to it
        (start token first, int32), as ``(words, tokens)`` with ``tokens`` laid out by :attr:`offsets` + one start
        each. Call once: the provisional ids are released."""
        provisional = np.frombuffer(self.tokens, dtype=np.int32) if len(self.tokens) else np.zeros(0, np.int32)
        offsets = np.frombuffer(self.offsets, dtype=np.int64)
        held_out = np.ones(len(self), dtype=bool)
        held_out[training_rows] = False
        # every token counts, minus the held-out rows' (a fifth or so): no copy of the training tokens is made
        counts = np.bincount(provisional, minlength=len(self.index))
        counts -= np.bincount(provisional[np.repeat(held_out, np.diff(offsets))], minlength=len(self.index))
        words = np.array(list(self.index), dtype=object)
        alphabetical = np.empty(len(words), dtype=np.int64)
        alphabetical[np.argsort(words.astype(str), kind="stable")] = np.arange(len(words))
        order = np.lexsort((alphabetical, -counts))  # most frequent first, ties alphabetical
        kept = order[counts[order] >= max(min_count, 1)]
        if num_words is not None:
            kept = kept[: max(num_words - INDEX_FROM, 0)]
        lookup = np.full(len(words) + 1, OOV_ID, dtype=np.int32)  # int32 ids: half the memory of int64
        lookup[kept] = np.arange(len(kept), dtype=np.int32) + INDEX_FROM
        remapped = lookup[provisional]
        del provisional
        self.tokens = array("i")  # the provisional ids are not needed any more
        return words[kept].tolist(), with_start(remapped, offsets)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(np.frombuffer(self.offsets, dtype=np.int64)) + 1  # + the start token


def with_start(tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``tokens`` (rows at ``offsets``) with the start id in front of every row."""
    lengths = np.diff(offsets)
    out = np.full(len(tokens) + len(lengths), START_ID, dtype=tokens.dtype)
    is_word = np.ones(len(out), dtype=bool)
    is_word[offsets[:-1] + np.arange(len(lengths))] = False
    out[is_word] = tokens
    return out


def vocabulary_tokenizer(words: Sequence[str]) -> WordTokenizer:
    """A tokenizer for a fitted vocabulary: word ``i`` of ``words`` is id ``i + 3``, anything else OOV."""
    return WordTokenizer({word: rank for rank, word in enumerate(words)}, len(words) + INDEX_FROM)


def encode_texts(texts: Iterable[str], words: Sequence[str], labels: np.ndarray | None = None) -> Ragged:
    """Texts encoded with a fixed vocabulary (validation and test files, or a checkpoint's vocabulary)."""
    ids: Mapping[str, int] = {word: rank + INDEX_FROM for rank, word in enumerate(words)}
    return ids_to_ragged(([START_ID, *(ids.get(word, OOV_ID) for word in split_words(text))] for text in texts), labels)


def ids_to_ragged(sequences: Iterable[list[int]], labels: np.ndarray | None = None) -> Ragged:
    """Id lists (streamed) as one flat int64 array with offsets; without ``labels``, zeros stand in."""
    tokens, offsets = array("q"), array("q", [0])
    for ids in sequences:
        tokens.extend(ids)
        offsets.append(len(tokens))
    flat = np.frombuffer(tokens, dtype=np.int64).copy() if len(tokens) else np.zeros(0, np.int64)
    bounds = np.frombuffer(offsets, dtype=np.int64).copy()
    return Ragged(flat, bounds, np.zeros(len(bounds) - 1, dtype=np.int64) if labels is None else labels)
