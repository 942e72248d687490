"""Labelled texts from the user's files, one row at a time: CSV/TSV, JSON lines, a folder per label, fastText lines.

Rows are streamed (a file is never held in memory as a whole), and anything unusable stops the read with one
line naming the file, the line or row, and the fix: a missing column, a malformed row, bytes that are not in the
given encoding, an empty text.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lightning_seq.data.tokenizer import split_words
from lightning_seq.errors import BadValue, MissingFile

Format = Literal["auto", "csv", "tsv", "jsonl", "folder", "fasttext"]
FASTTEXT_PREFIX = "__label__"
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
# A CSV field may hold a whole document; the csv module's default limit (131,072 characters) would refuse it.
_CSV_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)


@dataclass(frozen=True)
class TextRow:
    """One text, its labels (``None`` when the source has none, as for predict's input), and where it came from."""

    text: str
    labels: tuple[str, ...] | None
    where: str  # "train.csv line 7": for messages
    id: str | None = None
    listed: bool | None = None  # JSON only: the labels came as a list (True) or as one string (False)


@dataclass(frozen=True)
class Columns:
    """Where each field sits: column names in CSV/TSV, keys in JSON lines."""

    text: str = "text"
    label: str | None = "label"
    id: str | None = None
    label_separator: str | None = None
    id_required: bool = False  # else a missing id column just means rows without ids


def resolve_format(path: Path, fmt: Format) -> str:
    """``fmt`` unless it is ``auto``: a folder, a known suffix, or fastText when the first line starts with a tag."""
    if fmt != "auto":
        return fmt
    if path.is_dir():
        return "folder"
    if path.suffix.lower() in _SUFFIXES:
        return _SUFFIXES[path.suffix.lower()]
    with path.open("rb") as file:
        first = file.readline()
    if first.lstrip().startswith(FASTTEXT_PREFIX.encode()):
        return "fasttext"
    raise BadValue(
        f"{path}: cannot tell its format from the name; pass --data.format csv|tsv|jsonl|fasttext "
        "(or name it .csv, .tsv, .jsonl)"
    )


def read_rows(
    path: str | Path,
    fmt: Format = "auto",
    columns: Columns = Columns(),
    encoding: str = "utf-8",
    *,
    flag_prefix: str = "--data.",
    quote_content: bool = True,
    allow_empty: bool = False,
) -> Iterator[TextRow]:
    """Every row of ``path``; raises :class:`BadValue` / :class:`MissingFile` with the file and line for bad input.

    ``flag_prefix`` begins the option names in messages (``--`` for predict); ``allow_empty`` yields rows whose text
    has no words instead of refusing them.
    """
    try:
        yield from _read_rows(path, fmt, columns, encoding, allow_empty)
    except BadValue as error:
        if flag_prefix == "--data.":
            raise
        raise BadValue(str(error).replace("--data.", flag_prefix)) from None


def _read_rows(path: str | Path, fmt: Format, columns: Columns, encoding: str, allow_empty: bool) -> Iterator[TextRow]:
    path = Path(path)
    if not path.exists():
        raise MissingFile(
            f"{path} does not exist; give the path of a CSV, TSV, JSON lines or fastText file, or a folder"
        )
    fmt = resolve_format(path, fmt)
    readers = {
        "csv": _csv_rows,
        "tsv": _csv_rows,
        "jsonl": _json_rows,
        "fasttext": _fasttext_rows,
        "folder": _folder_rows,
    }
    if fmt == "folder" and not path.is_dir():
        raise BadValue(f"{path} is a file, not a folder; give a folder of <label>/*.txt or another --data.format")
    if fmt != "folder" and path.is_dir():
        raise BadValue(f"{path} is a folder; use --data.format folder (or auto) for <label>/*.txt, or give a file")
    rows = 0
    try:
        for row in readers[fmt](path, fmt, columns, encoding):
            if not allow_empty and not split_words(row.text):
                raise BadValue(
                    f"{row.where}: the text is empty (no words after removing punctuation); fill it in or remove "
                    "the row"
                )
            rows += 1
            yield row
    except UnicodeDecodeError:
        where, sample = _first_undecodable(path, encoding)
        raise BadValue(
            f"{where}: bytes {sample!r} are not {encoding}; pass --data.encoding with the file's encoding (e.g. "
            "latin-1 or cp1252 for Western European text) or convert the file to UTF-8"
        ) from None
    if rows == 0:
        raise BadValue(f"{path} holds no rows; give a file with at least one labelled text")


def _first_undecodable(path: Path, encoding: str) -> tuple[str, bytes]:
    """Where the first bytes that ``encoding`` cannot decode are (decoding runs ahead of the rows, so the row being
    read when the error surfaced is not the place)."""
    files = sorted(path.rglob("*.txt")) if path.is_dir() else [path]
    for file in files:
        with file.open("rb") as binary:
            for number, line in enumerate(binary, start=1):
                try:
                    line.decode(encoding)
                except UnicodeDecodeError as error:
                    return f"{file} line {number}", line[error.start : error.start + 4]
    return str(path), b""


def _csv_rows(path: Path, fmt: str, columns: Columns, encoding: str) -> Iterator[TextRow]:
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    with path.open(newline="", encoding=encoding) as file:
        reader = csv.reader(file, delimiter="\t" if fmt == "tsv" else ",")
        try:
            header = next(reader, None)
            if header is None:
                return
            header = [name.strip().lstrip("\ufeff") for name in header]
            wanted = {"text": columns.text, "label": columns.label, "id": columns.id if columns.id_required else None}
            missing = [
                f"--data.{key}_column {name!r}"
                for key, name in wanted.items()
                if name is not None and name not in header
            ]
            if missing:
                raise BadValue(
                    f"{path}: no column {', '.join(missing)}; its header has {header}: pass the right column name "
                    f"(e.g. --data.text_column {header[0]})"
                )
            text_at = header.index(columns.text)
            label_at = header.index(columns.label) if columns.label is not None else None
            id_at = header.index(columns.id) if columns.id in header else None
            for fields in reader:
                where = f"{path} line {reader.line_num}"
                if not fields:
                    continue  # a blank line between rows: csv itself treats it as no record
                if len(fields) != len(header):
                    raise BadValue(
                        f"{where}: {len(fields)} fields where the header has {len(header)}; quote fields that hold "
                        f"the delimiter ({'tab' if fmt == 'tsv' else 'comma'}) with double quotes"
                    )
                labels = None if label_at is None else _split_labels(fields[label_at], columns.label_separator, where)
                yield TextRow(fields[text_at], labels, where, fields[id_at] if id_at is not None else None)
        except csv.Error as error:
            raise BadValue(
                f"{path} line {reader.line_num}: malformed {fmt.upper()} ({error}); fix the quoting"
            ) from None


def _split_labels(cell: str, separator: str | None, where: str) -> tuple[str, ...]:
    labels = tuple(part.strip() for part in (cell.split(separator) if separator else [cell]))
    if not all(labels):
        raise BadValue(f"{where}: empty label {cell!r}; every row needs a label (separated by {separator!r})")
    return labels


def _numbered_lines(path: Path, encoding: str) -> Iterator[tuple[str, str]]:
    """``("<path> line N", line)`` for every line holding more than white space."""
    with path.open(encoding=encoding) as file:
        for number, line in enumerate(file, start=1):
            if line.strip():
                yield f"{path} line {number}", line


def _json_rows(path: Path, fmt: str, columns: Columns, encoding: str) -> Iterator[TextRow]:
    for where, line in _numbered_lines(path, encoding):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise BadValue(f"{where}: not valid JSON ({error.msg}); each line must be one JSON object") from None
        if not isinstance(record, dict):
            raise BadValue(f"{where}: a JSON {type(record).__name__}, not an object; write one object per line")
        wanted = (columns.text, columns.label, columns.id if columns.id_required else None)
        missing = [key for key in wanted if key is not None and key not in record]
        if missing:
            raise BadValue(
                f"{where}: no key {missing[0]!r} (it has {sorted(record)}); pass --data.text_column / "
                "--data.label_column with the right names"
            )
        text = record[columns.text]
        if not isinstance(text, str):
            raise BadValue(f"{where}: {columns.text!r} is a {type(text).__name__}, not a string")
        labels, listed = None, None
        if columns.label is not None:
            labels, listed = _json_labels(record[columns.label], columns.label_separator, where)
        identifier = str(record[columns.id]) if columns.id in record else None
        yield TextRow(text, labels, where, identifier, listed)


def _json_labels(value: object, separator: str | None, where: str) -> tuple[tuple[str, ...], bool]:
    if isinstance(value, list):
        if not value or not all(isinstance(item, str | int) and not isinstance(item, bool) for item in value):
            raise BadValue(f"{where}: the label list {value!r} must hold one or more strings")
        return tuple(str(item).strip() for item in value), True
    if isinstance(value, str | int) and not isinstance(value, bool):
        return _split_labels(str(value), separator, where), False
    raise BadValue(f"{where}: the label {value!r} is not a string or a list of strings")


def _fasttext_rows(path: Path, fmt: str, columns: Columns, encoding: str) -> Iterator[TextRow]:
    for where, line in _numbered_lines(path, encoding):
        words = line.split()
        tags = 0
        while tags < len(words) and words[tags].startswith(FASTTEXT_PREFIX):
            tags += 1
        labels = tuple(word[len(FASTTEXT_PREFIX) :] for word in words[:tags])
        if columns.label is not None and (not labels or not all(labels)):
            raise BadValue(f"{where}: no {FASTTEXT_PREFIX}<name> tag at the start; write '{FASTTEXT_PREFIX}a text'")
        yield TextRow(" ".join(words[tags:]), labels or None, where)


def _folder_rows(path: Path, fmt: str, columns: Columns, encoding: str) -> Iterator[TextRow]:
    folders = sorted(child for child in path.iterdir() if child.is_dir())
    if not folders:
        raise BadValue(f"{path} has no subfolders; put each label's texts in <label>/*.txt under it")
    for folder in folders:
        files = sorted(folder.glob("*.txt"))
        if not files:
            raise BadValue(f"{folder} holds no .txt files; remove the folder or add its label's texts")
        for file in files:
            where = str(file)
            yield TextRow(file.read_text(encoding=encoding), (folder.name,), where, str(file.relative_to(path)))
