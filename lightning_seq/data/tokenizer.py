"""Raw English text -> token ids, the way the Reuters training data was encoded.

Keras built ``reuters_word_index.json`` with its ``text_to_word_sequence`` defaults: lower-case, every
character of ``FILTERS`` replaced by a space (apostrophes are kept: the index holds "india's"), split on
whitespace. So "U.S. exports rose 3.5 pct" becomes ``u s exports rose 3 5 pct``, as in the dataset.
Each word then gets its raw rank + 3, a start token goes in front, and ids outside the model's
vocabulary (``num_words``, ``skip_top``) become OOV, exactly as :func:`~lightning_seq.data.sequences.keras_encode` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from lightning_seq.data.sequences import INDEX_FROM, OOV_ID, START_ID, limit_vocabulary
from lightning_seq.errors import excerpt

FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'  # Keras text_to_word_sequence's default filters
# Typographic quotes and apostrophes (word processors, other languages' conventions), read as the ASCII ones the
# newswires were typed with: the single ones (left/right, low-9 and reversed-9 quotation marks, primes, the modifier
# and fullwidth apostrophes) as the apostrophe Keras keeps ("don\u2019t" is "don't"); the double ones and the
# guillemets as '"', which the filters then remove (a curly-quoted "rain" reads as rain, the word it is).
_SINGLE = "\u2018\u2019\u201a\u201b\u2032\u2035\u02bc\uff07"
_DOUBLE = "\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb\u2039\u203a\u301d\u301e\u301f\uff02"
_TYPOGRAPHIC = {**dict.fromkeys(_SINGLE, "'"), **dict.fromkeys(_DOUBLE, '"')}
# One table, applied once: each character goes straight to what the ASCII one ends as ('"' is a filter: a space).
_TO_SPACE = str.maketrans(
    {
        **{char: " " for char in FILTERS},
        **{char: " " if plain in FILTERS else plain for char, plain in _TYPOGRAPHIC.items()},
    }
)


def split_words(text: str) -> list[str]:
    """Keras's ``text_to_word_sequence(text)``: lower-cased words with the default punctuation removed."""
    return text.lower().translate(_TO_SPACE).split()


@dataclass(frozen=True)
class EncodedText:
    """One text's words and ids (start token first); ``unknown`` are the words the model sees as OOV."""

    words: tuple[str, ...]
    ids: np.ndarray
    unknown: tuple[str, ...]

    @property
    def known(self) -> int:
        return len(self.words) - len(self.unknown)


class WordTokenizer:
    """Encodes texts for a model with ``vocab_size`` embedding rows.

    Args:
        word_index: Keras's word -> raw rank map (``reuters_word_index.json``).
        vocab_size: The model's vocabulary: ``num_words``, or the full vocabulary's size.
        skip_top: The training data's ``skip_top``.
    """

    def __init__(self, word_index: Mapping[str, int], vocab_size: int, skip_top: int = 0) -> None:
        self.word_index = word_index
        self.vocab_size = vocab_size
        self.skip_top = skip_top

    def encode(self, text: str) -> EncodedText:
        """Raises ``ValueError`` for a text without words: the start token alone would still get a topic."""
        words = split_words(text)
        if not words:
            raise ValueError(f"empty text {excerpt(text)}: it has no words (after removing punctuation) to classify")
        ranks = np.array([self.word_index.get(word, OOV_ID - INDEX_FROM) for word in words], dtype=np.int64)
        ids = limit_vocabulary(np.concatenate([[START_ID], ranks + INDEX_FROM]), self.vocab_size, self.skip_top)
        unknown = tuple(word for word, token in zip(words, ids[1:], strict=True) if token == OOV_ID)
        return EncodedText(tuple(words), ids, unknown)
