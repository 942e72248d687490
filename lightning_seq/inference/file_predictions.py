"""Predictions for a whole file of texts, streamed: read a chunk, predict it, write it, with a progress bar.

Input: CSV/TSV (a header naming the text column), JSON lines, or plain text (one text per line; fastText
``__label__`` tags at the start are ignored). An ``id`` column (or key) is carried into the output when there is
one. A row whose words are all unknown to the model is answered (its ``unknown_words`` equals its ``words``), as the
test split was scored. Output: JSON lines or CSV by the output's suffix. The output appears only once complete: a bad
row stops the run with one line naming it, and nothing is left half-written.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from tqdm.auto import tqdm

from lightning_seq.data.files import atomic_file
from lightning_seq.data.text_files import Columns, Format, TextRow, read_rows
from lightning_seq.errors import BadValue
from lightning_seq.inference.predictor import TopicPrediction, TopicPredictor

OUTPUT_SUFFIXES = (".jsonl", ".csv")


@dataclass(frozen=True)
class FileSummary:
    rows: int
    unknown_words: int  # over every row
    output: Path


def input_rows(
    path: Path, fmt: Format = "auto", text_column: str = "text", id_column: str | None = "id", encoding: str = "utf-8"
) -> Iterator[TextRow]:
    """The rows to predict: any format the DataModule reads, plus ``.txt`` as one text per line; no labels needed.

    The default ``id`` column is carried when the file has one; another ``id_column`` must exist.
    """
    if fmt == "auto" and path.suffix.lower() == ".txt":
        fmt = "fasttext"  # one text per line; leading __label__ tags, if any, are dropped
    return read_rows(path, fmt, Columns(text_column, None, id_column, None, id_required=id_column != "id"), encoding)


def predict_file(
    predictor: TopicPredictor,
    source: Path,
    output: Path,
    top_k: int = 3,
    chunk_rows: int = 4096,
    fmt: Format = "auto",
    text_column: str = "text",
    id_column: str | None = "id",
    encoding: str = "utf-8",
    progress: bool = True,
) -> FileSummary:
    """Write one prediction per row of ``source`` to ``output`` (``.jsonl`` or ``.csv``)."""
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise BadValue(f"--output {output}: name it .jsonl (JSON lines) or .csv")
    if output.resolve() == source.resolve():
        raise BadValue(f"--output {output} is the input itself; give another file")
    rows = input_rows(source, fmt, text_column, id_column, encoding)
    total = unknown = 0
    with atomic_file(output) as binary, tqdm(unit=" rows", disable=not progress, desc="Predicting") as bar:
        file = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        write = _csv_writer(file, top_k) if output.suffix.lower() == ".csv" else _jsonl_writer(file)
        while chunk := list(islice(rows, chunk_rows)):
            numbers = [row.where for row in chunk]
            predictions = predictor.predict([row.text for row in chunk], top_k, numbers=numbers, refuse_unknown=False)
            for row, prediction in zip(chunk, predictions, strict=True):
                write(row, prediction)
                unknown += len(prediction.unknown_words)
            total += len(chunk)
            bar.update(len(chunk))
        file.flush()
        file.detach()  # atomic_file closes and renames the file
    return FileSummary(total, unknown, output)


def _jsonl_writer(file: io.TextIOWrapper):
    def write(row: TextRow, prediction: TopicPrediction) -> None:
        record = {"id": row.id} if row.id is not None else {"row": row.where.rpartition(" ")[2]}
        record |= {
            "labels": [name for name, _ in prediction.labels],
            "probabilities": [round(p, 6) for _, p in prediction.labels],
            "top_k": [{"label": name, "probability": round(p, 6)} for name, p in prediction.topics],
            "words": prediction.words,
            "unknown_words": len(prediction.unknown_words),
            "truncated_tokens": prediction.truncated_tokens,
        }
        file.write(json.dumps(record) + "\n")

    return write


def _csv_writer(file: io.TextIOWrapper, top_k: int):
    writer = csv.writer(file, lineterminator="\n")
    ranked = [f"{kind}_{rank}" for rank in range(1, top_k + 1) for kind in ("top", "p")]
    writer.writerow(["id", "labels", "probabilities", *ranked, "words", "unknown_words", "truncated_tokens"])

    def write(row: TextRow, prediction: TopicPrediction) -> None:
        identifier = row.id if row.id is not None else row.where.rpartition(" ")[2]
        top = [value for name, p in prediction.topics for value in (name, f"{p:.6f}")]
        writer.writerow(
            [
                identifier,
                "|".join(name for name, _ in prediction.labels),
                "|".join(f"{p:.6f}" for _, p in prediction.labels),
                *top,
                prediction.words,
                len(prediction.unknown_words),
                prediction.truncated_tokens,
            ]
        )

    return write
