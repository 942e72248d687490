"""Predictions for a whole file of texts, streamed: read a chunk, predict it, write it, with a progress bar.

Input: CSV/TSV (a header naming the text column), JSON lines, or plain text (one text per line; fastText
``__label__`` tags at the start are ignored). An ``id`` column (or key) is carried into the output when there is
one. A row whose words are all unknown to the model is answered (its ``unknown_words`` equals its ``words``), as the
test split was scored; a row without any word (only punctuation, or empty) gets no label and the reason
``no words``, and the run goes on. Output: JSON lines or CSV by the output's suffix; CSV cells that a spreadsheet
would run as a formula are neutralised (OWASP). The output appears only once complete: a bad row, a full disk or an
interruption stops the run with one line, and nothing is left half-written.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Literal

from tqdm.auto import tqdm

from lightning_seq.data.files import atomic_file, same_file
from lightning_seq.data.text_files import Columns, Format, TextRow, read_rows
from lightning_seq.data.tokenizer import split_words
from lightning_seq.errors import BadValue, NotWritable, UserError
from lightning_seq.inference.predictor import TopicPrediction, TopicPredictor

OUTPUT_SUFFIXES = (".jsonl", ".csv")
CsvFormulas = Literal["escape", "keep"]
# A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")  # a spreadsheet reads it as the number it is
NO_WORDS = "no words"  # the reason given for a row that has no word to classify

Writer = Callable[[TextRow, TopicPrediction | None], None]


@dataclass(frozen=True)
class FileSummary:
    rows: int
    unknown_words: int  # over every row
    output: Path
    no_words: int = 0  # rows answered without a label: their text has no words
    first_no_words: str | None = None  # where the first such row is ("test.csv line 7")


def input_rows(
    path: Path, fmt: Format = "auto", text_column: str = "text", id_column: str | None = "id", encoding: str = "utf-8"
) -> Iterator[TextRow]:
    """The rows to predict: any format the DataModule reads, plus ``.txt`` as one text per line; no labels needed.

    The default ``id`` column is carried when the file has one; another ``id_column`` must exist. Rows without words
    are yielded too (they are answered, not refused), and messages name predict's options (``--text_column``).
    """
    if fmt == "auto" and path.suffix.lower() == ".txt":
        fmt = "fasttext"  # one text per line; leading __label__ tags, if any, are dropped
    columns = Columns(text_column, None, id_column, None, id_required=id_column != "id")
    return read_rows(path, fmt, columns, encoding, flag_prefix="--", allow_empty=True)


def check_output(output: Path, source: Path, others: Sequence[str | Path] = ()) -> None:
    """Refuse, before anything is predicted, an ``--output`` that cannot take the predictions: a wrong suffix, a
    folder, a path under a regular file or in a folder one may not write to, or the input (or a checkpoint in
    ``others``) itself, also through a symbolic or hard link."""
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise BadValue(f"--output {output}: name it .jsonl (JSON lines) or .csv")
    if output.is_dir():
        raise NotWritable(f"--output {output} is a folder; give a file name in it, e.g. {output / 'predictions.csv'}")
    existing = next(parent for parent in (output.parent, *output.parent.parents) if os.path.lexists(parent))
    if not existing.is_dir():
        raise NotWritable(f"--output {output}: {existing} is a file, not a folder; give a path under a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise NotWritable(f"--output {output}: {existing} is not writable for this user; write elsewhere")
    for other, what in ((source, "the input"), *((Path(path), "the checkpoint") for path in others)):
        if same_file(output, other):
            raise BadValue(f"--output {output} is {what} {other} (the same file); give another file")


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
    csv_formulas: CsvFormulas = "escape",
    checkpoints: Sequence[str | Path] = (),
) -> FileSummary:
    """Write one prediction per row of ``source`` to ``output`` (``.jsonl`` or ``.csv``).

    ``csv_formulas="keep"`` writes CSV cells as they are, even those a spreadsheet would run as formulas; the
    default escapes them. ``checkpoints`` are files ``output`` must not be.
    """
    check_output(output, source, checkpoints)
    if csv_formulas not in ("escape", "keep"):
        raise BadValue(f"--csv_formulas {csv_formulas}: choose escape (the default) or keep")
    predictor.check_top_k(top_k)
    rows = input_rows(source, fmt, text_column, id_column, encoding)
    total = unknown = no_words = 0
    first_no_words = None
    try:
        with atomic_file(output) as binary, tqdm(unit=" rows", disable=not progress, desc="Predicting") as bar:
            file = io.TextIOWrapper(binary, encoding="utf-8", newline="")
            csv_output = output.suffix.lower() == ".csv"
            write = _csv_writer(file, top_k, csv_formulas == "escape") if csv_output else _jsonl_writer(file)
            while chunk := list(islice(rows, chunk_rows)):
                has_words = [bool(split_words(row.text)) for row in chunk]
                worded = [row for row, words in zip(chunk, has_words, strict=True) if words]
                answers = iter(
                    predictor.predict(
                        [row.text for row in worded], top_k, numbers=[row.where for row in worded], refuse_unknown=False
                    )
                    if worded
                    else ()
                )
                for row, words in zip(chunk, has_words, strict=True):
                    prediction = next(answers) if words else None
                    if prediction is None:
                        no_words += 1
                        first_no_words = first_no_words or row.where
                    else:
                        unknown += len(prediction.unknown_words)
                    write(row, prediction)
                total += len(chunk)
                bar.update(len(chunk))
            file.flush()
            file.detach()  # atomic_file closes and renames the file
    except UserError:
        raise
    except OSError as error:  # writing failures are NotWritable already: this is reading the input
        raise BadValue(f"cannot read --input {source}: {error.strerror or error}") from None
    return FileSummary(total, unknown, output, no_words, first_no_words)


def neutralised(cell: str) -> str:
    """A cell that a spreadsheet would run as a formula (``=HYPERLINK(...)``, ``@SUM(...)``, ``-1+2``), prefixed with
    a single quote so that it is shown as text (OWASP's advice); a plain number (``-1``, ``+2.5``: a label or id a
    user wrote so) and any other cell unchanged."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(cell) else cell


def _jsonl_writer(file: io.TextIOWrapper) -> Writer:
    def write(row: TextRow, prediction: TopicPrediction | None) -> None:
        record: dict = {"id": row.id} if row.id is not None else {"row": row.where.rpartition(" ")[2]}
        if prediction is None:
            record |= {"labels": [], "probabilities": [], "top_k": [], "words": 0, "unknown_words": 0}
            record |= {"truncated_tokens": 0, "reason": NO_WORDS}
        else:
            record |= {
                "labels": [name for name, _ in prediction.labels],
                "probabilities": [round(p, 6) for _, p in prediction.labels],
                "top_k": [{"label": name, "probability": round(p, 6)} for name, p in prediction.topics],
                "words": prediction.words,
                "unknown_words": len(prediction.unknown_words),
                "truncated_tokens": prediction.truncated_tokens,
                "reason": None,
            }
        file.write(json.dumps(record) + "\n")

    return write


def _csv_writer(file: io.TextIOWrapper, top_k: int, escape: bool) -> Writer:
    # RFC 4180's CRLF: the csv module quotes a field holding \r or \n only when its line terminator holds them,
    # and an unquoted \r inside an id would split the row in two for every reader.
    writer = csv.writer(file, lineterminator="\r\n")
    ranked = [f"{kind}_{rank}" for rank in range(1, top_k + 1) for kind in ("top", "p")]
    writer.writerow(["id", "labels", "probabilities", *ranked, "words", "unknown_words", "truncated_tokens", "reason"])

    def write(row: TextRow, prediction: TopicPrediction | None) -> None:
        identifier = row.id if row.id is not None else row.where.rpartition(" ")[2]
        if prediction is None:
            cells = [identifier, "", "", *[""] * len(ranked), 0, 0, 0, NO_WORDS]
        else:
            top = [value for name, p in prediction.topics for value in (name, f"{p:.6f}")]
            cells = [
                identifier,
                "|".join(name for name, _ in prediction.labels),
                "|".join(f"{p:.6f}" for _, p in prediction.labels),
                *top,
                prediction.words,
                len(prediction.unknown_words),
                prediction.truncated_tokens,
                "",
            ]
        writer.writerow([neutralised(str(cell)) for cell in cells] if escape else cells)

    return write
