"""Pretrained vectors: GloVe text, word2vec text and binary, coverage, errors, and use in training."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.nn.embeddings import embedding_matrix, read_vectors
from lightning_seq.training.module import SequenceClassifier

# Words of the real Reuters index (ranks 1, 2, 5 -> ids 4, 5, 8), one written in capitals as
# GoogleNews does, and one word that is not in the vocabulary at all.
VECTORS = {
    "the": [0.1, 0.2, 0.3, 0.4],
    "of": [-1.0, 0.5, 0.0, 2.0],
    "Said": [3.0, -3.0, 1.5, 0.25],
    "zzyzx-not-a-reuters-word": [9.0, 9.0, 9.0, 9.0],
}
DIM = 4


def write_glove(path: Path, vectors: dict[str, list[float]] = VECTORS) -> Path:
    path.write_text("".join(f"{word} {' '.join(map(str, v))}\n" for word, v in vectors.items()))
    return path


def write_word2vec_text(path: Path) -> Path:
    path.write_text(f"{len(VECTORS)} {DIM}\n" + write_glove(path.with_suffix(".tmp")).read_text())
    return path


def write_word2vec_binary(path: Path, count: int | None = None) -> Path:
    body = b"".join(word.encode() + b" " + struct.pack(f"<{DIM}f", *v) + b"\n" for word, v in VECTORS.items())
    data = f"{count if count is not None else len(VECTORS)} {DIM}\n".encode() + body
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.fixture(scope="module")
def vocabulary(datamodule: ReutersDataModule) -> dict[str, int]:
    return datamodule.vocabulary


def test_vocabulary_follows_the_encoding(datamodule: ReutersDataModule, vocabulary: dict[str, int]) -> None:
    assert vocabulary["the"] == 4 and vocabulary["of"] == 5 and vocabulary["said"] == 8
    assert len(vocabulary) == 9996 and min(vocabulary.values()) == 4 and max(vocabulary.values()) == 9999
    train, _ = datamodule.splits()
    assert set(vocabulary.values()) >= set(np.unique(train.tokens[train.tokens >= 3]).tolist())


@pytest.mark.parametrize("writer", ["glove", "word2vec", "word2vec-binary", "word2vec-binary-gz"])
def test_every_format_gives_the_same_rows_and_coverage(tmp_path: Path, vocabulary: dict[str, int], writer: str) -> None:
    path = {
        "glove": lambda: write_glove(tmp_path / "glove.6B.4d.txt"),
        "word2vec": lambda: write_word2vec_text(tmp_path / "vectors.txt"),
        "word2vec-binary": lambda: write_word2vec_binary(tmp_path / "vectors.bin"),
        "word2vec-binary-gz": lambda: write_word2vec_binary(tmp_path / "vectors.bin.gz"),
    }[writer]()
    matrix, coverage = embedding_matrix(path, vocabulary, 10000, DIM)  # format detected from name and first line
    assert matrix.shape == (10000, DIM) and matrix.dtype == torch.float32
    assert matrix[4].tolist() == pytest.approx(VECTORS["the"])
    assert matrix[5].tolist() == pytest.approx(VECTORS["of"])
    assert matrix[8].tolist() == pytest.approx(VECTORS["Said"])  # matched by lower-casing the file's word
    assert matrix[0].abs().sum() == 0  # padding stays zero
    assert (coverage.vocabulary, coverage.found, coverage.lowercase_matches) == (9996, 3, 1)
    assert coverage.fraction == pytest.approx(3 / 9996)
    assert coverage.missing_examples[:3] == ("to", "in", "and")  # ranks 3, 4, 6: most frequent unmatched
    assert "3 of 9,996 vocabulary words got a pretrained vector (0.0%" in str(coverage)
    found_std = np.array([VECTORS["the"], VECTORS["of"], VECTORS["Said"]]).std()
    assert matrix[100:].std().item() == pytest.approx(found_std, rel=0.05)  # the rest on the found vectors' scale


def test_a_cased_exact_match_wins_over_a_lowercased_one(tmp_path: Path, vocabulary: dict[str, int]) -> None:
    path = write_glove(tmp_path / "cased.txt", {"The": [1.0] * DIM, "the": [2.0] * DIM, "THE": [3.0] * DIM})
    matrix, coverage = embedding_matrix(path, vocabulary, 10000, DIM)
    assert matrix[4].tolist() == [2.0] * DIM and (coverage.found, coverage.lowercase_matches) == (1, 0)


def test_glove_words_with_spaces_keep_their_vector(tmp_path: Path) -> None:
    path = tmp_path / "glove.840B.txt"
    path.write_text("the 1 2\n. . . 3 4\n")
    assert [(w, v.tolist()) for w, v in read_vectors(path)] == [("the", [1.0, 2.0]), (". . .", [3.0, 4.0])]


def test_a_smaller_vocabulary_only_takes_its_own_words(tmp_path: Path, vocabulary: dict[str, int]) -> None:
    matrix, coverage = embedding_matrix(write_glove(tmp_path / "v.txt"), vocabulary, 6, DIM)
    assert matrix.shape == (6, DIM) and (coverage.vocabulary, coverage.found) == (2, 2)  # ids 4, 5; "said" is 8


def test_dimension_mismatch_with_the_model_names_the_fix(tmp_path: Path, vocabulary: dict[str, int]) -> None:
    path = write_glove(tmp_path / "glove.6B.4d.txt")
    fix = "holds 4-dimensional vectors but the model's embedding_dim is 8; set model.embedding_dim to 4"
    with pytest.raises(ValueError, match=re.escape(fix)):
        embedding_matrix(path, vocabulary, 10000, 8)


def test_ragged_dimensions_inside_a_file_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ragged.txt"
    path.write_text("the 1 2 3\nof 1 2\n")
    with pytest.raises(ValueError, match="line 2: expected a word and 3 numbers, got 3 fields"):
        list(read_vectors(path))
    path.write_text("2 3\nthe 1 2 3\nof 1 x 3\n")
    with pytest.raises(ValueError, match="line 3: not a word followed by 3 numbers"):
        list(read_vectors(path))


@pytest.mark.parametrize("content", [b"", b"\n\n", b"0 300\n"])
@pytest.mark.parametrize("name", ["empty.txt", "empty.bin"])
def test_an_empty_file_is_refused(tmp_path: Path, content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"holds no word vectors|starts with 'count dim'"):
        list(read_vectors(path))


def test_a_truncated_binary_file_is_refused(tmp_path: Path) -> None:
    path = write_word2vec_binary(tmp_path / "vectors.bin")
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="ends inside vector 4 of 4; download it again"):
        list(read_vectors(path))
    write_word2vec_binary(path, count=6)
    with pytest.raises(ValueError, match="ends after 4 of the 6 vectors its header promises"):
        list(read_vectors(path))


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no word-vector file at .*nope\.txt"):
        list(read_vectors(tmp_path / "nope.txt"))
    with pytest.raises(ValueError, match="unknown vector format 'fasttext'"):
        list(read_vectors(write_glove(tmp_path / "v.txt"), "fasttext"))  # type: ignore[arg-type]


@pytest.mark.parametrize("freeze", [True, False])
def test_training_starts_from_the_vectors_and_freezing_keeps_them(
    datamodule: ReutersDataModule, tmp_path: Path, freeze: bool
) -> None:
    path = write_glove(tmp_path / "glove.txt")
    model = SequenceClassifier(
        10000, 46, "gru", embedding_dim=DIM, hidden_size=8, embeddings=str(path), freeze_embeddings=freeze
    )
    trainer = L.Trainer(
        accelerator="cpu", max_steps=3, limit_val_batches=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, datamodule=datamodule)
    assert model.embedding_coverage is not None and model.embedding_coverage.found == 3
    expected, _ = embedding_matrix(path, datamodule.vocabulary, 10000, DIM)
    weights = model.net.embedding.weight.detach()
    assert torch.equal(weights, expected) is freeze  # the same draw for missing rows: only training changes them
    assert model.net.embedding.weight.requires_grad is not freeze
    torch.load(trainer.checkpoint_callback.best_model_path, weights_only=True)


def test_freezing_without_vectors_is_an_error() -> None:
    with pytest.raises(ValueError, match="freeze_embeddings needs pretrained vectors: set embeddings"):
        SequenceClassifier(10000, 46, freeze_embeddings=True)
