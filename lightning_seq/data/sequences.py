"""Variable-length token sequences, and the Keras ``reuters.load_data()`` encoding.

Keras's conventions are kept so that numbers compare with the literature: shuffle with
``np.random.RandomState(seed)``, id 0 = padding, 1 = start, 2 = out-of-vocabulary, and
word ids shifted by ``index_from`` = 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD_ID = 0
START_ID = 1
OOV_ID = 2
INDEX_FROM = 3


@dataclass(frozen=True)
class Ragged:
    """Sequences stored flat (``tokens``) with boundaries (``offsets``, one more than items)."""

    tokens: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.offsets.ndim != 1 or len(self.offsets) != len(self.labels) + 1:
            raise ValueError(f"need len(offsets) == len(labels) + 1, got {len(self.offsets)} and {len(self.labels)}")
        if self.offsets[0] != 0 or self.offsets[-1] != len(self.tokens) or np.any(np.diff(self.offsets) < 0):
            raise ValueError("offsets must rise from 0 to len(tokens)")

    @classmethod
    def from_lists(cls, sequences: list[list[int]], labels: np.ndarray) -> Ragged:
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        tokens = np.fromiter((t for s in sequences for t in s), dtype=np.int64, count=int(offsets[-1]))
        return cls(tokens, offsets, np.asarray(labels, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sequence(self, index: int) -> np.ndarray:
        return self.tokens[self.offsets[index] : self.offsets[index + 1]]

    def select(self, indices: np.ndarray) -> Ragged:
        """The items at ``indices``, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.lengths[indices]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return Ragged(self.tokens[_gather_positions(self.offsets[indices], lengths)], offsets, self.labels[indices])


def _gather_positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Flat positions ``starts[i] + 0 .. lengths[i]-1`` for every ``i``, concatenated."""
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + within


def keras_encode(
    raw: Ragged,
    num_words: int | None = None,
    skip_top: int = 0,
    seed: int = 113,
    test_split: float = 0.2,
) -> tuple[Ragged, Ragged]:
    """Train and test splits exactly as ``keras.datasets.reuters.load_data()`` builds them.

    One deliberate difference: with ``num_words=None`` Keras sets ``num_words`` to the
    largest id and so maps that single word to OOV; here the full vocabulary is kept.
    As in Keras, ``skip_top`` applies to shifted ids, so it also replaces the start token.
    """
    if not 0.0 < test_split < 1.0:
        raise ValueError(f"test_split must be in (0, 1), got {test_split}")
    if num_words is not None and num_words <= INDEX_FROM:
        raise ValueError(f"num_words must be > {INDEX_FROM} (ids 0-2 are reserved), got {num_words}")
    if skip_top < 0:
        raise ValueError(f"skip_top must be >= 0, got {skip_top}")
    shuffled = raw.select(keras_order(len(raw), seed))

    lengths = shuffled.lengths + 1
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tokens = np.empty(int(offsets[-1]), dtype=np.int64)
    tokens[offsets[:-1]] = START_ID
    is_word = np.ones(len(tokens), dtype=bool)
    is_word[offsets[:-1]] = False
    tokens[is_word] = shuffled.tokens + INDEX_FROM

    limit = num_words if num_words is not None else int(tokens.max()) + 1
    encoded = Ragged(limit_vocabulary(tokens, limit, skip_top), offsets, shuffled.labels)

    cut = keras_cut(len(encoded), test_split)
    return encoded.select(np.arange(cut)), encoded.select(np.arange(cut, len(encoded)))


def keras_order(items: int, seed: int = 113) -> np.ndarray:
    """The order ``load_data()`` shuffles the wires into before cutting train | test."""
    order = np.arange(items)
    np.random.RandomState(seed).shuffle(order)
    return order


def keras_cut(items: int, test_split: float = 0.2) -> int:
    """How many of the shuffled wires are training wires (8,982 of 11,228)."""
    return int(items * (1 - test_split))


def limit_vocabulary(tokens: np.ndarray, vocab_size: int, skip_top: int = 0) -> np.ndarray:
    """Keras's rule: ids outside ``[skip_top, vocab_size)`` become OOV (so ``skip_top > 1`` also hides the start)."""
    return np.where((tokens >= skip_top) & (tokens < vocab_size), tokens, OOV_ID)


def pad_sequences(
    sequences: Ragged, maxlen: int, padding: str = "pre", truncating: str = "pre"
) -> tuple[np.ndarray, np.ndarray]:
    """Pad/truncate to ``maxlen`` like Keras ``pad_sequences``; returns ``(ids, kept lengths)``.

    ``truncating="pre"`` (Keras's default) keeps the *last* ``maxlen`` tokens.
    """
    for name, value in (("padding", padding), ("truncating", truncating)):
        if value not in ("pre", "post"):
            raise ValueError(f"{name} must be 'pre' or 'post', got {value!r}")
    if maxlen < 1:
        raise ValueError(f"maxlen must be >= 1, got {maxlen}")
    lengths = sequences.lengths
    kept = np.minimum(lengths, maxlen)
    starts = sequences.offsets[:-1] + (lengths - kept if truncating == "pre" else 0)
    source = _gather_positions(starts, kept)

    rows = np.repeat(np.arange(len(sequences)), kept)
    columns = _gather_positions(maxlen - kept if padding == "pre" else np.zeros_like(kept), kept)
    ids = np.full((len(sequences), maxlen), PAD_ID, dtype=np.int64)
    ids[rows, columns] = sequences.tokens[source]
    return ids, kept
