"""``scripts/predict.py`` / ``lightning-seq predict``: labels for texts given inline, in a file, or on stdin, or for
every row of an ``--input`` file written to an ``--output`` file (streamed)."""

from __future__ import annotations

import codecs
import json
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from jsonargparse import Namespace

from lightning_seq.cli.parsers import command_parser, parse
from lightning_seq.data.text_files import check_encoding
from lightning_seq.errors import BadValue, MissingFile, excerpt, report_user_errors
from lightning_seq.inference.file_predictions import FileSummary, check_output, predict_file
from lightning_seq.inference.loading import data_settings
from lightning_seq.inference.predictor import TopicPrediction, TopicPredictor

# --file and stdin are read whole; a larger file goes through --input/--output, which streams it.
MAX_TEXT_BYTES = 256 * 2**20
_STREAM_IT = "use --input FILE --output FILE.jsonl, which reads it a chunk at a time"


def read_text_file(path: Path) -> str:
    """A text file as editors save it: UTF-8 with or without a byte-order mark, or UTF-16 with one.

    Only a regular file is read: a device such as /dev/zero never ends and a FIFO blocks.
    """
    info = regular_file(path, "--file", "a text file, one text per line")
    if info.st_size > MAX_TEXT_BYTES:
        raise BadValue(f"--file {path} holds {info.st_size:,} bytes, more than --file reads at once; {_STREAM_IT}")
    try:
        payload = path.read_bytes()
    except OSError as error:
        raise BadValue(f"cannot read --file {path} ({error.strerror or error})") from None
    return decode_text(payload, str(path))


def decode_text(payload: bytes, source: str) -> str:
    """UTF-16 if a UTF-16 byte-order mark says so, else UTF-8 (a UTF-8 byte-order mark is dropped)."""
    encoding = "utf-16" if payload.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    try:
        return payload.decode(encoding)
    except UnicodeDecodeError as error:
        line = payload[: error.start].count(b"\n") + 1
        raise BadValue(
            f"{source} is not {encoding.replace('-sig', '')} text: byte {error.start} (line {line}) is "
            f"{payload[error.start : error.start + 1]!r}; save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None


def numbered_lines(text: str, source: str) -> list[tuple[int, str]]:
    """``(line number, line)`` for every line holding more than white space; the blank ones are skipped, and said."""
    lines = list(enumerate(text.splitlines(), start=1))  # \n, \r\n and \r alike
    kept = [(number, line) for number, line in lines if line.strip()]
    blank = [number for number, line in lines if not line.strip()]
    if blank:
        shown = ", ".join(map(str, blank[:10])) + (", ..." if len(blank) > 10 else "")
        print(f"Skipped {len(blank)} blank line(s) of {source}: {shown}", file=sys.stderr)
    if not kept:
        raise BadValue(f"{source} holds no text: give one newswire per line")
    return kept


def _read_texts(args: Namespace) -> list[tuple[int, str]]:
    """The texts to classify with their numbers: the --text order, or the line in --file / stdin."""
    if args.text:
        return list(enumerate(args.text, start=1))
    if args.file:
        return numbered_lines(read_text_file(args.file), str(args.file))
    if sys.stdin is None or sys.stdin.closed or sys.stdin.isatty():
        raise BadValue("no input: give --text TEXT, --file FILE (one text per line), or pipe text to stdin")
    if hasattr(sys.stdin, "buffer"):  # the bytes, so that stdin is decoded as a file is
        payload = sys.stdin.buffer.read(MAX_TEXT_BYTES + 1)
        if len(payload) > MAX_TEXT_BYTES:
            raise BadValue(
                f"stdin holds more than {MAX_TEXT_BYTES:,} bytes, more than predict reads at once; {_STREAM_IT}"
            )
        return numbered_lines(decode_text(payload, "stdin"), "stdin")
    return numbered_lines(sys.stdin.read().removeprefix("\ufeff"), "stdin")


def format_prediction(number: int, prediction: TopicPrediction) -> str:
    preview = prediction.text if len(prediction.text) <= 70 else prediction.text[:67] + "..."
    notes = [f"{prediction.words} words"]
    if prediction.unknown_words:
        shown = ", ".join(prediction.unknown_words[:8]) + (", ..." if len(prediction.unknown_words) > 8 else "")
        notes.append(f"{len(prediction.unknown_words)} unknown: {shown}")
    if prediction.truncated_tokens:
        notes.append(f"first {prediction.truncated_tokens} tokens cut to fit maxlen")
    decided = [name for name, _ in prediction.labels]
    if decided != [name for name, _ in prediction.topics[:1]]:  # a multi-label decision: say which labels it is
        notes.append(f"labels: {', '.join(decided) or 'none above the threshold'}")
    lines = [f"[{number}] {preview!r} ({'; '.join(notes)})"]
    lines += [f"    {name:<16} {probability:.3f}" for name, probability in prediction.topics]
    return "\n".join(lines)


@report_user_errors
def main(argv: Sequence[str] | None = None) -> list[TopicPrediction] | FileSummary:
    parser = command_parser("scripts/predict.py", "Labels for raw text from a trained checkpoint.")
    parser.add_argument(
        "--ckpt",
        action="append",
        required=True,
        help="checkpoint written by scripts/fit.py; repeat it to average an ensemble (same vocabulary and labels)",
    )
    parser.add_argument("--text", action="append", help="a text to classify (repeatable)")
    parser.add_argument(
        "--file", type=Path, help="a text file, one text per line (UTF-8 or UTF-16; blank lines are skipped)"
    )
    parser.add_argument(
        "--input", type=Path, help="a CSV/TSV (with a header), JSON lines or .txt (one text per line) file to predict"
    )
    parser.add_argument("--output", type=Path, help="with --input: the predictions, .jsonl or .csv")
    parser.add_argument(
        "--text_column",
        help="with --input: the text's column or JSON key (default: the checkpoint's training column, else 'text')",
    )
    parser.add_argument(
        "--id_column", default="id", help="with --input: carried into the output (the default 'id' when present)"
    )
    parser.add_argument(
        "--format",
        help="with --input: auto, csv, tsv, jsonl or fasttext (default: by the file's name; a name that does not "
        "tell, by the checkpoint's training format)",
    )
    parser.add_argument(
        "--encoding", help="with --input: the file's text encoding (default: the checkpoint's training encoding)"
    )
    parser.add_argument(
        "--csv_formulas",
        default="escape",
        help="with a .csv --output: escape (a cell starting with = + - @ tab or CR gets a leading ' so that a "
        "spreadsheet shows it as text) or keep (cells as they are)",
    )
    parser.add_argument(
        "--top_k",
        type=int,
        help="labels to show per text, ranked by probability (default 3, or every label of a model with fewer)",
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per text (with its line 'number') instead of a table"
    )
    parser.add_argument("--data_dir", help="directory with reuters_word_index.json (default: $LIGHTNING_SEQ_DATA)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parse(parser, argv)
    if sum(bool(given) for given in (args.text, args.file, args.input)) > 1:
        raise BadValue("give one of --text, --file or --input")
    if bool(args.input) != bool(args.output):
        raise BadValue("--input and --output go together: predictions for every row of --input are written to --output")
    device = usable_device(args.device)
    if args.input:
        return _predict_file(args, device)
    numbers, texts = zip(*_read_texts(args), strict=True)
    predictor = TopicPredictor.from_checkpoints(args.ckpt, args.data_dir, device)
    predictions = predictor.predict(list(texts), top_k(args, predictor), numbers=list(numbers))
    for number, prediction in zip(numbers, predictions, strict=True):  # number: --text position or line
        record = {"number": number} | prediction.to_dict()
        print(json.dumps(record) if args.json else format_prediction(number, prediction))
    return predictions


PREDICT_FORMATS = ("auto", "csv", "tsv", "jsonl", "fasttext")
# Names that tell predict a file's format: the DataModule's suffixes, and .txt (one text per line).
NAMED_FORMATS = (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json", ".txt")


def _predict_file(args: Namespace, device: torch.device) -> FileSummary:
    """``--input`` to ``--output``: the output is checked before the model is loaded, the columns, encoding and
    format default to the checkpoint's training data, and every row is answered."""
    if args.format is not None and args.format not in PREDICT_FORMATS:
        raise BadValue(f"--format {args.format}: choose auto, csv, tsv, jsonl or fasttext")
    if args.csv_formulas not in ("escape", "keep"):
        raise BadValue(f"--csv_formulas {args.csv_formulas}: choose escape (the default) or keep")
    if args.encoding:
        check_encoding(args.encoding, "--encoding")
    check_input(args.input)
    check_output(args.output, args.input, args.ckpt)
    predictor = TopicPredictor.from_checkpoints(args.ckpt, args.data_dir, device)
    trained = data_settings(args.ckpt[0])
    text_column = args.text_column or _trained(trained, "text_column", "--text_column") or "text"
    encoding = args.encoding or _trained(trained, "encoding", "--encoding") or "utf-8"
    if not args.encoding:
        check_encoding(encoding, "the checkpoint's training encoding", "pass --encoding, e.g.")
    fmt = args.format or _default_format(args.input, trained.get("format"))
    summary = predict_file(
        predictor,
        args.input,
        args.output,
        top_k(args, predictor),
        fmt=fmt,
        text_column=text_column,
        id_column=args.id_column,
        encoding=encoding,
        progress=sys.stderr.isatty(),
        csv_formulas=args.csv_formulas,
        checkpoints=args.ckpt,
    )
    note = f"{summary.unknown_words:,} unknown words in all"
    if (text_column, encoding) != (args.text_column or "text", args.encoding or "utf-8"):
        note += f"; column {text_column!r} in {encoding}, as the checkpoint's training data"
    if summary.no_words:
        note += (
            f"; {summary.no_words:,} row(s) without words answered with no label and reason 'no words', the first "
            f"at {summary.first_no_words}"
        )
    print(f"Wrote {summary.rows:,} predictions to {summary.output} ({note})")
    return summary


def top_k(args: Namespace, predictor: TopicPredictor) -> int:
    """``--top_k``, or 3 capped at the model's label count (a two-label model answers with both)."""
    return args.top_k if args.top_k is not None else predictor.default_top_k


def check_input(path: Path) -> None:
    regular_file(path, "--input", "a CSV/TSV, JSON lines or .txt file")


def regular_file(path: Path, flag: str, wanted: str) -> os.stat_result:
    """``os.stat`` of the file ``flag`` names, refused unless it is a regular file (or a link to one): a folder, a
    device such as /dev/zero or a FIFO is refused before anything is read (a FIFO would block, a device never ends)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise MissingFile(f"{flag} {path} does not exist; give {wanted}") from None
    except OSError as error:
        raise BadValue(f"cannot read {flag} {path} ({error.strerror or error}); give {wanted}") from None
    if stat.S_ISDIR(info.st_mode):
        raise BadValue(f"{flag} {path} is a folder; give {wanted}")
    if not stat.S_ISREG(info.st_mode):
        raise BadValue(f"{flag} {path} is not a regular file (a device, FIFO or socket); give {wanted}")
    return info


def _trained(settings: dict, key: str, flag: str) -> str | None:
    """A text-files checkpoint's setting (``None`` for Reuters checkpoints); a crafted value is refused, not used."""
    value = settings.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 200:
        raise BadValue(f"the checkpoint's training {key} {excerpt(str(value))} is not usable here; pass {flag}")
    return value


def _default_format(path: Path, trained: object) -> str:
    """``auto`` when the input's name tells its format; else the checkpoint's training format if predict reads it."""
    if path.suffix.lower() in NAMED_FORMATS or trained not in PREDICT_FORMATS:
        return "auto"
    return str(trained)


def usable_device(name: str) -> torch.device:
    """``--device``, refused in one line when it is not a device name or torch cannot use it here."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BadValue(f"--device {name}: not a device; use cpu or cuda (cuda:N for another GPU)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BadValue(f"--device {name}: no CUDA device is visible to torch {torch.__version__}; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise BadValue(f"--device {name}: predict runs on cpu or cuda")
    return device
