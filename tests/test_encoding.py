"""Keras parity of the split and encoding, and padding/truncation, on the real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lightning_seq.data import reuters
from lightning_seq.data.sequences import Ragged, keras_encode, pad_sequences


def keras_reference(num_words: int | None, skip_top: int, data_dir: Path) -> tuple[list, list, list, list]:
    """keras.datasets.reuters.load_data() transliterated line by line (defaults, no maxlen)."""
    with np.load(data_dir / "reuters.npz", allow_pickle=True) as f:  # the real, hash-pinned file
        xs, labels = f["x"], f["y"]
    rng = np.random.RandomState(113)
    indices = np.arange(len(xs))
    rng.shuffle(indices)
    xs, labels = xs[indices], labels[indices]
    xs = [[1] + [w + 3 for w in x] for x in xs]
    if not num_words:
        num_words = max(max(x) for x in xs)
    xs = [[w if skip_top <= w < num_words else 2 for w in x] for x in xs]
    idx = int(len(xs) * (1 - 0.2))
    return xs[:idx], list(labels[:idx]), xs[idx:], list(labels[idx:])


def as_lists(ragged: Ragged) -> list[list[int]]:
    return [ragged.sequence(i).tolist() for i in range(len(ragged))]


@pytest.fixture(scope="module")
def raw(real_data_dir: Path, cache_dir: Path) -> Ragged:
    return reuters.load_raw(real_data_dir, cache_dir, download=False)


@pytest.mark.parametrize(("num_words", "skip_top"), [(10000, 0), (1000, 5)])
def test_identical_to_keras_load_data(raw: Ragged, real_data_dir: Path, num_words: int, skip_top: int) -> None:
    x_train, y_train, x_test, y_test = keras_reference(num_words, skip_top, real_data_dir)
    train, test = keras_encode(raw, num_words=num_words, skip_top=skip_top)
    assert as_lists(train) == x_train and train.labels.tolist() == y_train
    assert as_lists(test) == x_test and test.labels.tolist() == y_test


def test_full_vocabulary_keeps_the_one_word_keras_drops(raw: Ragged, real_data_dir: Path) -> None:
    x_train, _, x_test, _ = keras_reference(None, 0, real_data_dir)
    train, test = keras_encode(raw)
    ours = np.concatenate([train.tokens, test.tokens])
    theirs = np.array([w for x in x_train + x_test for w in x])
    differs = np.flatnonzero(ours != theirs)
    assert len(differs) == 1  # Keras maps the largest id to OOV when num_words is None
    assert ours[differs[0]] == reuters.FULL_VOCAB_SIZE - 1 and theirs[differs[0]] == 2


def test_published_keras_sample(raw: Ragged) -> None:
    """x_train[0] of load_data(num_words=10000) as printed in countless Keras tutorials."""
    train, _ = keras_encode(raw, num_words=10000)
    assert train.sequence(0)[:13].tolist() == [1, 2, 2, 8, 43, 10, 447, 5, 25, 207, 270, 5, 3095]
    assert len(train.sequence(0)) == 87 and train.labels[0] == 3
    small, _ = keras_encode(raw, num_words=2000)
    assert small.sequence(0)[12] == 2  # id 3095 is out of a 2,000-word vocabulary


def test_split_sizes_labels_and_lengths(raw: Ragged) -> None:
    assert len(raw) == reuters.NUM_ITEMS and len(raw.tokens) == 1_627_658
    assert raw.tokens.min() == 1 and raw.tokens.max() == reuters.MAX_RAW_ID
    train, test = keras_encode(raw)
    assert (len(train), len(test)) == (8982, 2246)
    assert set(train.labels.tolist()) | set(test.labels.tolist()) == set(range(46))
    assert train.tokens.max() == reuters.FULL_VOCAB_SIZE - 1
    assert sorted(np.concatenate([train.lengths, test.lengths]) - 1) == sorted(raw.lengths)


def test_first_raw_newswire_decodes_to_the_cocoa_story(raw: Ragged, real_data_dir: Path) -> None:
    word_by_id = {index: word for word, index in reuters.load_word_index(real_data_dir, download=False).items()}
    text = " ".join(word_by_id[i] for i in raw.sequence(0)[:12])
    assert text == "showers continued throughout the week in the bahia cocoa zone alleviating the"
    assert reuters.TOPICS[raw.labels[0]] == "cocoa"
    assert raw.labels[:5].tolist() == [0, 1, 2, 3, 4]


TINY = Ragged.from_lists([[5, 6, 7, 8], [9], [3, 4]], np.array([0, 1, 2]))


@pytest.mark.parametrize(
    ("padding", "truncating", "expected"),
    [
        ("pre", "pre", [[6, 7, 8], [0, 0, 9], [0, 3, 4]]),
        ("pre", "post", [[5, 6, 7], [0, 0, 9], [0, 3, 4]]),
        ("post", "pre", [[6, 7, 8], [9, 0, 0], [3, 4, 0]]),
        ("post", "post", [[5, 6, 7], [9, 0, 0], [3, 4, 0]]),
    ],
)
def test_padding_and_truncation_sides(padding: str, truncating: str, expected: list[list[int]]) -> None:
    ids, lengths = pad_sequences(TINY, maxlen=3, padding=padding, truncating=truncating)
    assert ids.tolist() == expected
    assert lengths.tolist() == [3, 1, 2]


def test_padding_longer_than_every_sequence_keeps_all_tokens() -> None:
    ids, lengths = pad_sequences(TINY, maxlen=6)
    assert ids.tolist() == [[0, 0, 5, 6, 7, 8], [0, 0, 0, 0, 0, 9], [0, 0, 0, 0, 3, 4]]
    assert lengths.tolist() == [4, 1, 2]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"maxlen": 0}, "maxlen must be >= 1"), ({"maxlen": 3, "padding": "left"}, "padding must be 'pre' or 'post'")],
)
def test_bad_padding_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pad_sequences(TINY, **kwargs)


def test_bad_encoding_arguments(raw: Ragged) -> None:
    with pytest.raises(ValueError, match="num_words must be > 3"):
        keras_encode(raw, num_words=3)
    with pytest.raises(ValueError, match="test_split"):
        keras_encode(raw, test_split=1.0)
