"""Subword vocabularies (BPE or WordPiece) trained on the training texts with Hugging Face ``tokenizers``.

A word vocabulary reads a misspelt, rare or inflected word as "unknown"; a subword vocabulary splits it into pieces
it has seen (``wheat`` + ``s``). The words are found as :func:`~lightning_seq.data.tokenizer.split_words` finds them
(lower case, Keras's punctuation filters), then split into pieces; ids keep the package's convention (0 padding,
1 start, 2 unknown). The trained tokenizer is a JSON string, which a checkpoint stores as a plain value.
Needs the ``subword`` extra: ``pip install -e ".[subword]"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Literal

import numpy as np

from lightning_seq.data.sequences import OOV_ID, START_ID
from lightning_seq.data.tokenizer import _TYPOGRAPHIC, FILTERS, EncodedText, split_words
from lightning_seq.errors import BadValue, excerpt

Kind = Literal["bpe", "wordpiece"]
SPECIAL = ["[PAD]", "[START]", "[UNK]"]  # ids 0, 1, 2: PAD_ID, START_ID, OOV_ID
DEFAULT_SIZE = 30_000


def _library():
    try:
        import tokenizers
    except ImportError:
        raise BadValue(
            "--data.tokenizer bpe/wordpiece needs Hugging Face tokenizers: pip install -e '.[subword]'"
        ) from None
    return tokenizers


def train_subword(kind: Kind, texts: Iterable[str], vocab_size: int | None, min_count: int = 1) -> str:
    """A ``kind`` tokenizer trained on ``texts`` (streamed), as its JSON string."""
    tk = _library()
    model = tk.models.BPE(unk_token="[UNK]") if kind == "bpe" else tk.models.WordPiece(unk_token="[UNK]")
    tokenizer = tk.Tokenizer(model)
    characters = "".join("\\" + char if char in "\\^]-[" else char for char in FILTERS)
    # typographic quotes first, as split_words reads them: a curly double quote then goes with the filters
    steps = [tk.normalizers.Lowercase()]
    steps += [tk.normalizers.Replace(curly, plain) for curly, plain in _TYPOGRAPHIC.items()]
    steps += [tk.normalizers.Replace(tk.Regex(f"[{characters}]"), " ")]
    tokenizer.normalizer = tk.normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = tk.pre_tokenizers.WhitespaceSplit()
    trainer_class = tk.trainers.BpeTrainer if kind == "bpe" else tk.trainers.WordPieceTrainer
    trainer = trainer_class(
        vocab_size=vocab_size or DEFAULT_SIZE, min_frequency=min_count, special_tokens=SPECIAL, show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    if kind == "wordpiece":
        tokenizer.decoder = tk.decoders.WordPiece()
    return tokenizer.to_str()


class SubwordTokenizer:
    """Encodes texts with a trained subword tokenizer; the same interface as :class:`WordTokenizer`."""

    def __init__(self, serialized: str) -> None:
        self.serialized = serialized
        self.tokenizer = _library().Tokenizer.from_str(serialized)
        self.vocab_size = self.tokenizer.get_vocab_size()
        for token_id, token in enumerate(SPECIAL):
            if self.tokenizer.token_to_id(token) != token_id:
                raise ValueError(f"the tokenizer's {token} is not id {token_id}")

    def pieces(self) -> list[str]:
        """The vocabulary in id order from id 3 (what a word vocabulary's ``words`` are)."""
        vocabulary = self.tokenizer.get_vocab()
        return [piece for piece, _ in sorted(vocabulary.items(), key=lambda item: item[1])][len(SPECIAL) :]

    def encode(self, text: str) -> EncodedText:
        words = split_words(text)
        if not words:
            raise ValueError(f"empty text {excerpt(text)}: it has no words (after removing punctuation) to classify")
        encoding = self.tokenizer.encode(text)
        ids = np.array([START_ID, *encoding.ids], dtype=np.int64)
        unknown_words = {word for word, token in zip(encoding.word_ids, encoding.ids, strict=True) if token == OOV_ID}
        unknown = tuple(words[index] for index in sorted(unknown_words) if index is not None and index < len(words))
        return EncodedText(tuple(words), ids, unknown)

    def encode_many(self, texts: Iterable[str], chunk: int = 4096) -> Iterator[list[int]]:
        """Each text's ids (start token first), encoded in batches (the library's threads)."""
        texts = iter(texts)
        while batch := list(islice(texts, chunk)):
            for encoding in self.tokenizer.encode_batch(batch):
                yield [START_ID, *encoding.ids]
