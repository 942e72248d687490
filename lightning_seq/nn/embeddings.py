"""Pretrained word vectors (GloVe text, word2vec text or binary) mapped onto the Reuters token ids.

Files are streamed, and only the vectors of words in the vocabulary are kept, so even
``glove.840B.300d.txt`` (2.2 M words) loads in constant memory. Public files a user would download:
``glove.6B.zip`` (``glove.6B.{50,100,200,300}d.txt``) and ``glove.840B.300d.zip`` from
https://nlp.stanford.edu/projects/glove/, and ``GoogleNews-vectors-negative300.bin.gz`` (word2vec
binary, from https://code.google.com/archive/p/word2vec/). Gzipped files are read as they are.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, get_args

import numpy as np
import torch

from lightning_seq.data.sequences import PAD_ID
from lightning_seq.errors import BadValue, MissingFile, excerpt, shown_path

VectorFormat = Literal["auto", "glove", "word2vec", "word2vec-binary"]
VECTOR_FORMATS: tuple[str, ...] = get_args(VectorFormat)


@dataclass(frozen=True)
class Coverage:
    """How much of the vocabulary got a pretrained vector."""

    vocabulary: int
    found: int
    lowercase_matches: int
    missing_examples: tuple[str, ...] = ()

    @property
    def fraction(self) -> float:
        return self.found / self.vocabulary if self.vocabulary else 0.0

    def __str__(self) -> str:
        examples = f" (most frequent missing: {', '.join(self.missing_examples)})" if self.missing_examples else ""
        return (
            f"{self.found:,} of {self.vocabulary:,} vocabulary words got a pretrained vector "
            f"({self.fraction:.1%}; {self.lowercase_matches:,} by lower-casing the file's word){examples}"
        )


def read_vectors(path: str | Path, fmt: VectorFormat = "auto") -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(word, float32 vector)`` pairs from a GloVe or word2vec file, checking every dimension."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise BadValue(f"{shown_path(path)} is not a regular file (a folder, device or FIFO); give a word-vector file")
    if not path.is_file():
        raise MissingFile(
            f"no word-vector file at {path}; download one (see lightning_seq.nn.embeddings for the public files) "
            "or fix the path"
        )
    if fmt not in VECTOR_FORMATS:
        raise BadValue(f"unknown vector format {fmt!r}: choose one of {', '.join(VECTOR_FORMATS)}")
    if fmt == "auto":
        fmt = _detect_format(path)
    count = 0
    with _open(path) as stream:
        reader = _read_binary(stream, path) if fmt == "word2vec-binary" else _read_text(stream, path, fmt)
        for word, vector in reader:
            count += 1
            yield word, vector
    if count == 0:
        raise BadValue(f"{path} holds no word vectors: the file is empty or truncated; download it again")


def embedding_matrix(
    path: str | Path,
    vocabulary: Mapping[str, int],
    vocab_size: int,
    embedding_dim: int,
    fmt: VectorFormat = "auto",
    seed: int = 0,
) -> tuple[torch.Tensor, Coverage]:
    """An ``(vocab_size, embedding_dim)`` matrix whose rows are the file's vectors for ``vocabulary`` (word -> id).

    A word is matched as written, else by lower-casing the file's word (word2vec's GoogleNews
    vectors are cased; the Reuters index is not). Rows without a vector (the start and OOV ids
    too) are drawn from a normal with the found vectors' standard deviation, so they sit on the
    same scale; the padding row is zero.
    """
    ids = {word: i for word, i in vocabulary.items() if 0 <= i < vocab_size and i != PAD_ID}
    rows = np.zeros((vocab_size, embedding_dim), dtype=np.float32)
    exact: set[int] = set()
    lowered: set[int] = set()
    for word, vector in read_vectors(path, fmt):
        if vector.shape[0] != embedding_dim:
            raise BadValue(
                f"{path} holds {vector.shape[0]}-dimensional vectors but the model's embedding_dim is {embedding_dim}; "
                f"set model.embedding_dim to {vector.shape[0]}"
            )
        if word in ids:
            rows[ids[word]] = vector
            exact.add(ids[word])
            lowered.discard(ids[word])
        elif (i := ids.get(word.lower())) is not None and i not in exact and i not in lowered:
            rows[i] = vector
            lowered.add(i)
    found = sorted(exact | lowered)
    generator = np.random.default_rng(seed)
    scale = float(rows[found].std()) if found else 0.05
    missing = np.setdiff1d(np.arange(vocab_size), np.asarray(found, dtype=np.int64))
    rows[missing] = generator.normal(0.0, scale or 0.05, size=(len(missing), embedding_dim))
    rows[PAD_ID] = 0.0
    unmatched = sorted((i, word) for word, i in ids.items() if i not in exact and i not in lowered)
    coverage = Coverage(len(ids), len(found), len(lowered), tuple(word for _, word in unmatched[:10]))
    return torch.from_numpy(rows), coverage


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")  # type: ignore[return-value]


def _detect_format(path: Path) -> VectorFormat:
    """``.bin`` means word2vec binary; a ``count dim`` first line means word2vec text; else GloVe."""
    if path.name.removesuffix(".gz").endswith(".bin"):
        return "word2vec-binary"
    with _open(path) as stream:
        first = stream.readline(1 << 20).split()  # a first line longer than this is no vector header
    return "word2vec" if len(first) == 2 and all(part.isdigit() for part in first) else "glove"


def _read_text(stream: BinaryIO, path: Path, fmt: VectorFormat) -> Iterator[tuple[str, np.ndarray]]:
    lines = io.TextIOWrapper(stream, encoding="utf-8", errors="replace")
    dim = None
    start = 1
    if fmt == "word2vec":
        header = lines.readline().split()
        if len(header) != 2 or not all(part.isdigit() for part in header):
            raise BadValue(
                f"{path} line 1: a word2vec text file starts with 'count dim', got {excerpt(' '.join(header))}"
            )
        dim, start = int(header[1]), 2
    for number, line in enumerate(lines, start=start):
        parts = line.rstrip("\n").rstrip(" ").split(" ")
        if parts == [""]:
            continue
        if dim is None:
            dim = len(parts) - 1
        # A few GloVe 840B "words" contain spaces: the vector is always the last `dim` fields.
        if len(parts) < dim + 1 or dim < 1:
            raise BadValue(
                f"{path} line {number}: expected a word and {dim} numbers, got {len(parts)} fields; "
                "every vector in a file must have the same dimension"
            )
        try:
            vector = np.asarray(parts[-dim:], dtype=np.float32)
        except ValueError:
            # the value that failed is not quoted: the file may be anything a checkpoint named (/proc/self/environ)
            raise BadValue(f"{path} line {number}: not a word followed by {dim} numbers") from None
        yield " ".join(parts[:-dim]), vector


def _read_binary(stream: BinaryIO, path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """word2vec's C format: ``count dim\\n``, then per word its UTF-8 bytes, a space and ``dim`` float32s."""
    header = stream.readline().split()
    if len(header) != 2 or not all(part.isdigit() for part in header):
        raise BadValue(f"{path}: a word2vec binary file starts with 'count dim', got {excerpt(str(header))}")
    count, dim = int(header[0]), int(header[1])
    for number in range(count):
        word = bytearray()
        while (char := stream.read(1)) != b" ":  # both open() and gzip.open() streams are buffered
            if not char:
                raise BadValue(f"{path}: ends after {number} of the {count} vectors its header promises")
            if char != b"\n" or word:
                word += char
        data = stream.read(4 * dim)
        if len(data) != 4 * dim:
            raise BadValue(f"{path}: ends inside vector {number + 1} of {count}; download it again")
        yield word.decode("utf-8", errors="replace"), np.frombuffer(data, dtype="<f4").copy()
