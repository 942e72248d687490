"""Labelled texts from the user's files, one row at a time: CSV/TSV, JSON lines, a folder per label, fastText lines.

Rows are streamed (a file is never held in memory as a whole), and anything unusable stops the read with one
line naming the file, the line or row, and the fix: a missing column, a malformed row, bytes that are not in the
given encoding, an empty text.

A file may come from a stranger (or be named by a checkpoint), so reading is bounded and messages are careful:
only regular files are opened (a FIFO, ``/dev/zero`` or a socket is refused before it is read), a line or CSV
record is at most :data:`MAX_LINE_CHARS` characters, and a message quotes at most short escaped excerpts of the
file's content, or none at all with ``quote_content=False``.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import os
import shlex
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from lightning_seq.data.tokenizer import split_words
from lightning_seq.errors import EXCERPT_CHARS, BadValue, MissingFile, excerpt
from lightning_seq.errors import shown_path as _shown

Format = Literal["auto", "csv", "tsv", "jsonl", "folder", "fasttext"]
FASTTEXT_PREFIX = "__label__"
MAX_LINE_CHARS = 10 * 2**20
"""The longest line (or CSV record, or a folder's text file) read, in characters with its line end: 10 MiB of
text is far beyond any document a sequence model reads, and a longer one is almost always not a text file."""
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
# A CSV field may hold a whole document; the record bound above limits it, not the csv module's 131,072 default.
_CSV_FIELD_LIMIT = 2**31 - 1
_NAMES_CHARS = 120  # the most characters of header names or keys a message lists
# Column names that plausibly hold the text, or the labels, for "did you mean" suggestions (lower case).
_TEXT_NAMES = ("text", "body", "content", "sentence", "document", "review", "title", "message", "comment")
_LABEL_NAMES = ("label", "labels", "category", "categories", "topic", "topics", "class", "classes", "tag", "tags")
_LABEL_NAMES += ("target", "targets")
_ID_NAMES = ("id", "ids", "identifier", "key", "uid", "uuid", "index", "idx")
_PEEK_BYTES = 4096  # how much of a file's start the format guess reads


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


@dataclass(frozen=True)
class _Options:
    """How messages are worded for this read (see :func:`read_rows`)."""

    flag_prefix: str = "--data."
    quote_content: bool = True
    allow_empty: bool = False

    def flag(self, name: str) -> str:
        return f"{self.flag_prefix}{name}"


def _names(names: list[str]) -> str:
    """A bounded, escaped list of header names or keys (at most about ``_NAMES_CHARS`` characters of them)."""
    shown: list[str] = []
    size = 0
    for name in names:
        quoted = excerpt(name)
        if size + len(quoted) > _NAMES_CHARS and shown:
            break
        shown.append(quoted)
        size += len(quoted)
    if len(shown) < len(names):
        shown.append(f"... {len(names) - len(shown)} more")
    return "[" + ", ".join(shown) + "]"


def _check_regular(path: Path, what: str = "file") -> os.stat_result:
    """``os.stat`` of a file that may be read: it exists and is a regular file or a folder, never a FIFO, device or
    socket (opening a FIFO would block, a device never ends)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise BadValue(
                f"{_shown(path)} is a symbolic link to nothing; remove it or point it at a text file"
            ) from None
        raise MissingFile(
            f"{_shown(path)} does not exist; give the path of a CSV, TSV, JSON lines or fastText file, or a folder"
        ) from None
    except (OSError, ValueError) as error:  # a link loop, a name too long, a NUL in the name, no permission
        reason = getattr(error, "strerror", None) or "an unusable path"
        raise BadValue(f"{_shown(path)} cannot be read ({reason}); give a readable {what}") from None
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise BadValue(
            f"{_shown(path)} is not a regular file (it is {_kind(info.st_mode)}); give a {what} saved on disk"
        )
    return info


def _kind(mode: int) -> str:
    kinds = {stat.S_ISFIFO: "a FIFO", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device"}
    kinds[stat.S_ISSOCK] = "a socket"
    return next((name for test, name in kinds.items() if test(mode)), "not a file")


def _open(path: Path, encoding: str | None = None, newline: str | None = None) -> IO:
    """``path`` opened for reading (text with ``encoding``, else binary) if it is a regular file; checked again on
    the open descriptor, without blocking, so a file swapped for a FIFO after the check is refused too."""
    info = _check_regular(path)
    if stat.S_ISDIR(info.st_mode):
        raise BadValue(f"{_shown(path)} is a folder, not a text file; give a file")
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise BadValue(f"{_shown(path)} cannot be read ({error.strerror}); give a readable file") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise BadValue(f"{_shown(path)} is not a regular file (it is {_kind(mode)}); give a file saved on disk")
    if encoding is None:
        return open(descriptor, "rb")
    return open(descriptor, encoding=encoding, newline=newline)


def resolve_format(path: Path, fmt: Format, *, flag_prefix: str = "--data.") -> str:
    """``fmt`` unless it is ``auto``: a folder, a known suffix, or fastText when the first line starts with a tag."""
    if fmt != "auto":
        return fmt
    if path.is_dir():
        return "folder"
    if path.suffix.lower() in _SUFFIXES:
        return _SUFFIXES[path.suffix.lower()]
    with _open(path) as file:
        first = file.read(_PEEK_BYTES)
    if first.lstrip().startswith(FASTTEXT_PREFIX.encode()):
        return "fasttext"
    raise BadValue(
        f"{_shown(path)}: cannot tell its format from the name; pass {flag_prefix}format csv|tsv|jsonl|fasttext "
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

    Args:
        flag_prefix: How the caller's options are spelled in messages (``--data.`` for the DataModule, ``--``
            for predict's ``--text_column``, ``--encoding``, ``--format``).
        quote_content: Whether messages may quote short escaped excerpts of the file (header names, keys, bytes,
            labels). ``False`` for a file the user did not name (one a checkpoint chose): messages then name the
            file and line only.
        allow_empty: Yield a row whose text has no words (predict answers it with no label) instead of refusing it.
    """
    opts = _Options(flag_prefix, quote_content, allow_empty)
    path = Path(path)
    check_encoding(encoding, opts.flag("encoding"))
    info = _check_regular(path, "file or folder")
    fmt = resolve_format(path, fmt, flag_prefix=flag_prefix)
    readers = {
        "csv": _csv_rows,
        "tsv": _csv_rows,
        "jsonl": _json_rows,
        "fasttext": _fasttext_rows,
        "folder": _folder_rows,
    }
    if fmt not in readers:
        raise BadValue(f"{opts.flag('format')} {excerpt(str(fmt))}: not a format; use auto|{'|'.join(readers)}")
    is_dir = stat.S_ISDIR(info.st_mode)
    if fmt == "folder" and not is_dir:
        raise BadValue(
            f"{_shown(path)} is a file, not a folder; give a folder of <label>/*.txt or another {opts.flag('format')}"
        )
    if fmt != "folder" and is_dir:
        raise BadValue(
            f"{_shown(path)} is a folder; use {opts.flag('format')} folder (or auto) for <label>/*.txt, or give a file"
        )
    rows = 0
    try:
        for row in readers[fmt](path, fmt, columns, encoding, opts):
            if not opts.allow_empty and not split_words(row.text):
                raise BadValue(
                    f"{row.where}: the text is empty (no words after removing punctuation); fill it in or remove "
                    "the row"
                )
            rows += 1
            yield row
    except UnicodeError as error:  # UnicodeDecodeError, or e.g. "UTF-16 stream does not start with BOM"
        raise _undecodable(path, encoding, error, opts) from None
    if rows == 0:
        raise BadValue(f"{_shown(path)} holds no rows; give a file with at least one labelled text")


def check_encoding(encoding: str, name: str = "--data.encoding", fix: str = "e.g.") -> None:
    """Refuse, naming it as ``name``, what is not a text encoding (an unknown name, or a codec such as base64)."""
    try:
        known = codecs.lookup(encoding)._is_text_encoding  # base64, rot13, ...: codecs, but not text encodings
    except (LookupError, TypeError, ValueError):
        known = False
    if not known:
        raise BadValue(
            f"{name} {excerpt(str(encoding))}: not a text encoding Python knows; {fix} utf-8, latin-1, cp1252, utf-16"
        )


def _undecodable(path: Path, encoding: str, error: UnicodeError, opts: _Options) -> BadValue:
    """One line for text that ``encoding`` cannot decode, naming where (decoding runs ahead of the rows, so the
    row being read when the error surfaced is not the place: the file is decoded again to find it)."""
    line, sample = _first_undecodable(path, encoding)
    where = _shown(path) if line is None else f"{_shown(path)} line {line}"
    fix = (
        f"pass {opts.flag('encoding')} with the file's encoding (e.g. latin-1 or cp1252 for Western European text) "
        "or convert the file to UTF-8"
    )
    if not isinstance(error, UnicodeDecodeError) or sample is None:
        reason = error.reason if isinstance(error, UnicodeDecodeError) else str(error)
        return BadValue(
            f"{where}: not {encoding} text ({excerpt(reason, 80)}); {opts.flag('encoding')} applies to "
            f"every file, so give them all in one encoding (convert this one to {encoding}, or every file "
            "to UTF-8)"
        )
    shown = f"bytes {sample!r}" if opts.quote_content else "bytes"
    return BadValue(f"{where}: {shown} are not {encoding}; {fix}")


def _first_undecodable(path: Path, encoding: str) -> tuple[int | None, bytes | None]:
    """The line number of the first bytes ``encoding`` cannot decode, and up to 4 of them (``None`` for an error
    that is not about particular bytes, as a missing UTF-16 byte order mark)."""
    make = codecs.getincrementaldecoder(encoding)
    decoder, newlines = make(), 0
    with _open(path) as binary:
        while True:
            chunk = binary.readline(_PEEK_BYTES)  # an incremental decoder accepts any split of the bytes
            state = decoder.getstate()
            try:
                newlines += decoder.decode(chunk, final=not chunk).count("\n")
            except UnicodeDecodeError as error:
                # the line ends decoded before the bad bytes (error.object is the decoder's pending bytes + chunk)
                before = make()
                before.setstate(state)
                with contextlib.suppress(UnicodeError):
                    newlines += before.decode(error.object[len(state[0]) : error.start]).count("\n")
                return newlines + 1, bytes(error.object[error.start : error.start + 4])
            except UnicodeError:
                return newlines + 1, None
            if not chunk:
                return None, None


def _bounded_lines(file: IO[str], path: Path, record: list[int] | None = None) -> Iterator[tuple[int, str]]:
    """``(number, line)`` for every line of ``file``, refusing a line (or, with ``record``, the characters counted
    there since the caller last reset it) longer than :data:`MAX_LINE_CHARS`, without reading past the limit."""
    number = 0
    while line := file.readline(MAX_LINE_CHARS + 1):
        number += 1
        size = len(line)
        if record is not None:
            record[0] += size
            size = record[0]
        if size > MAX_LINE_CHARS:
            what = "a row" if record is not None else "the line"
            raise BadValue(
                f"{_shown(path)} line {number}: {what} runs past {MAX_LINE_CHARS:,} characters (a text file's lines "
                "are far shorter: is it a text file, or does a quote miss its closing quote?); shorten or split it"
            )
        yield number, line


def _csv_rows(path: Path, fmt: str, columns: Columns, encoding: str, opts: _Options) -> Iterator[TextRow]:
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    record = [0]  # characters of the record being read: csv.reader pulls lines only as the record needs them
    with _open(path, encoding, newline="") as file:
        numbered = _bounded_lines(file, path, record)
        reader = csv.reader((line for _, line in numbered), delimiter="\t" if fmt == "tsv" else ",")
        try:
            header = next(reader, None)
            if header is None:
                return
            header = [name.strip().lstrip("\ufeff") for name in header]
            record[0] = 0
            _check_header(path, header, columns, opts)
            text_at = header.index(columns.text)
            label_at = header.index(columns.label) if columns.label is not None else None
            id_at = header.index(columns.id) if columns.id in header else None
            for fields in reader:
                record[0] = 0
                where = f"{_shown(path)} line {reader.line_num}"
                if not fields:
                    continue  # a blank line between rows: csv itself treats it as no record
                if len(fields) != len(header):
                    raise BadValue(
                        f"{where}: {len(fields)} fields where the header has {len(header)}; quote fields that hold "
                        f"the delimiter ({'tab' if fmt == 'tsv' else 'comma'}) with double quotes"
                    )
                labels = None
                if label_at is not None:
                    labels = _split_labels(fields[label_at], columns.label_separator, where, opts)
                yield TextRow(fields[text_at], labels, where, fields[id_at] if id_at is not None else None)
        except csv.Error as error:
            raise BadValue(
                f"{_shown(path)} line {reader.line_num}: malformed {fmt.upper()} ({excerpt(str(error), 80)}); fix "
                "the quoting"
            ) from None


def _check_header(path: Path, header: list[str], columns: Columns, opts: _Options) -> None:
    """Refuse repeated column names and missing columns, suggesting only plausible ones."""
    repeated = sorted(name for name, count in Counter(header).items() if count > 1)
    if repeated:
        names = f" {_names(repeated)}" if opts.quote_content else ""
        raise BadValue(
            f"{_shown(path)}: the header repeats column names{names}; give each column its own name (which one "
            "is meant is not clear)"
        )
    wanted = {"text": columns.text, "label": columns.label, "id": columns.id if columns.id_required else None}
    missing = {key: name for key, name in wanted.items() if name is not None and name not in header}
    if missing:
        raise BadValue(f"{_shown(path)}: {_missing_message(missing, header, 'column', columns, opts)}")


def _missing_message(missing: dict[str, str], present: list[str], noun: str, columns: Columns, opts: _Options) -> str:
    """``no column --data.text_column 'text'; its header has [...]: pass the right column name (e.g. ...)``."""
    named = ", ".join(f"{opts.flag(key + '_column')} {excerpt(name)}" for key, name in missing.items())
    message = f"no {noun} {named}"
    if not opts.quote_content:
        return f"{message}; pass the right {noun} name"
    has = "its header has" if noun == "column" else "it has"
    message += f"; {has} {_names(present)}: pass the right {noun} name"
    suggestions = []
    for key in missing:
        guess = _plausible(present, key, columns)
        if guess is not None:
            suggestions.append(f"{opts.flag(key + '_column')} {guess}")
    return message + (f" (e.g. {' '.join(suggestions)})" if suggestions else "")


def _plausible(names: list[str], key: str, columns: Columns) -> str | None:
    """A column the user plausibly meant for ``key`` (shell-quoted), or ``None``: never the id column or a
    label-looking one as the text, never a text-looking one as the label."""
    if key not in ("text", "label"):
        return None
    taken = {columns.text, columns.label, columns.id} - {getattr(columns, key)}
    usable = [
        name
        for name in names
        if name not in taken and name.isprintable() and 0 < len(name) <= EXCERPT_CHARS and name.lower() not in _ID_NAMES
    ]
    if key == "label":
        usable = [name for name in usable if name.lower() not in _TEXT_NAMES]
        guess = next((name for name in usable if name.lower() in _LABEL_NAMES), None)
    else:
        usable = [name for name in usable if name.lower() not in _LABEL_NAMES]
        guess = next((name for name in usable if name.lower() in _TEXT_NAMES), None)
        guess = guess or next((name for name in usable if any(part in name.lower() for part in _TEXT_NAMES)), None)
    return None if guess is None else shlex.quote(guess)


def _split_labels(cell: str, separator: str | None, where: str, opts: _Options) -> tuple[str, ...]:
    labels = tuple(part.strip() for part in (cell.split(separator) if separator else [cell]))
    if not all(labels):
        shown = f" {excerpt(cell)}" if opts.quote_content else ""
        by = f" (separated by {excerpt(separator)})" if separator else ""
        raise BadValue(f"{where}: empty label{shown}; every row needs a label{by}")
    return labels


def _numbered_lines(path: Path, encoding: str) -> Iterator[tuple[str, str]]:
    """``("<path> line N", line)`` for every line holding more than white space."""
    with _open(path, encoding) as file:
        for number, line in _bounded_lines(file, path):
            if line.strip():
                yield f"{_shown(path)} line {number}", line


def _json_rows(path: Path, fmt: str, columns: Columns, encoding: str, opts: _Options) -> Iterator[TextRow]:
    for where, line in _numbered_lines(path, encoding):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise BadValue(f"{where}: not valid JSON ({error.msg}); each line must be one JSON object") from None
        except (ValueError, RecursionError):  # a number of thousands of digits, arrays nested thousands deep
            raise BadValue(
                f"{where}: JSON beyond what is read (too deeply nested or too long a number); each line must be one "
                "JSON object"
            ) from None
        if not isinstance(record, dict):
            raise BadValue(f"{where}: a JSON {type(record).__name__}, not an object; write one object per line")
        label_key = columns.label
        if label_key == "label" and label_key not in record and "labels" in record:
            label_key = "labels"  # the common multi-label spelling, when the default key is absent
        wanted = {"text": columns.text, "label": label_key, "id": columns.id if columns.id_required else None}
        missing = {key: name for key, name in wanted.items() if name is not None and name not in record}
        if missing:
            keys = [str(key) for key in record]
            raise BadValue(f"{where}: {_missing_message(missing, keys, 'key', columns, opts)}")
        text = record[columns.text]
        if not isinstance(text, str):
            raise BadValue(f"{where}: {excerpt(columns.text)} is a {type(text).__name__}, not a string")
        labels, listed = None, None
        if label_key is not None:
            labels, listed = _json_labels(record[label_key], columns.label_separator, where, opts)
        identifier = str(record[columns.id]) if columns.id in record else None
        yield TextRow(text, labels, where, identifier, listed)


def _json_labels(value: object, separator: str | None, where: str, opts: _Options) -> tuple[tuple[str, ...], bool]:
    def shown() -> str:
        return f" {excerpt(json.dumps(value, ensure_ascii=False))}" if opts.quote_content else ""

    if isinstance(value, list):
        if not value or not all(isinstance(item, str | int) and not isinstance(item, bool) for item in value):
            raise BadValue(f"{where}: the label list{shown()} must hold one or more strings")
        labels = tuple(str(item).strip() for item in value)
        if not all(labels):
            raise BadValue(f"{where}: an empty label in the label list{shown()}; every label needs a name")
        return labels, True
    if isinstance(value, str | int) and not isinstance(value, bool):
        return _split_labels(str(value), separator, where, opts), False
    raise BadValue(f"{where}: the label{shown()} is not a string or a list of strings")


def _fasttext_rows(path: Path, fmt: str, columns: Columns, encoding: str, opts: _Options) -> Iterator[TextRow]:
    for where, line in _numbered_lines(path, encoding):
        words = line.split()
        tags = 0
        while tags < len(words) and words[tags].startswith(FASTTEXT_PREFIX):
            tags += 1
        labels = tuple(word[len(FASTTEXT_PREFIX) :] for word in words[:tags])
        if columns.label is not None and (not labels or not all(labels)):
            raise BadValue(f"{where}: no {FASTTEXT_PREFIX}<name> tag at the start; write '{FASTTEXT_PREFIX}a text'")
        yield TextRow(" ".join(words[tags:]), labels or None, where)


def _folder_rows(path: Path, fmt: str, columns: Columns, encoding: str, opts: _Options) -> Iterator[TextRow]:
    try:
        folders = sorted(child for child in path.iterdir() if child.is_dir())
    except OSError as error:
        raise BadValue(f"{_shown(path)} cannot be listed ({error.strerror}); give a readable folder") from None
    if not folders:
        raise BadValue(f"{_shown(path)} has no subfolders; put each label's texts in <label>/*.txt under it")
    for folder in folders:
        try:
            files = sorted(folder.glob("*.txt"))
        except OSError as error:
            raise BadValue(f"{_shown(folder)} cannot be listed ({error.strerror}); give a readable folder") from None
        if not files:
            raise BadValue(f"{_shown(folder)} holds no .txt files; remove the folder or add its label's texts")
        for file in files:
            if file.is_dir():
                raise BadValue(
                    f"{_shown(file)} is a folder, not a text file; a label folder holds one text per .txt file "
                    "(rename or move it)"
                )
            try:
                with _open(file, encoding) as stream:
                    text = stream.read(MAX_LINE_CHARS + 1)
            except UnicodeError as error:
                raise _undecodable(file, encoding, error, opts) from None
            if len(text) > MAX_LINE_CHARS:
                raise BadValue(
                    f"{_shown(file)}: runs past {MAX_LINE_CHARS:,} characters (far beyond a text a model reads: is it "
                    "a text file?); shorten or split it"
                )
            yield TextRow(text, (folder.name,), _shown(file), str(file.relative_to(path)))
