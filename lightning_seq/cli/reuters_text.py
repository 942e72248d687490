"""``scripts/reuters_text.py`` / ``lightning-seq reuters-text``: the Reuters wires as CSV, JSON lines, a folder per
topic and fastText lines (and a multi-label set of joined wires), to try the text-files path on known data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lightning_seq.cli.parsers import command_parser, parse
from lightning_seq.data.reuters_text import FORMATS, write_reuters_text
from lightning_seq.errors import BadValue, report_user_errors


@report_user_errors
def main(argv: Sequence[str] | None = None) -> list[Path]:
    parser = command_parser(
        "scripts/reuters_text.py",
        "Write the Reuters wires back to words (Keras's split: train 8,982 / test 2,246) as text files.",
    )
    parser.add_argument("--out", type=Path, default=Path("data/reuters-text"), help="where the files go")
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), help=f"any of {', '.join(FORMATS)}")
    parser.add_argument("--multi_label", type=bool, default=True, help="also write multilabel/{train,test}.jsonl")
    parser.add_argument("--data_dir", help="directory with reuters.npz (default: $LIGHTNING_SEQ_DATA or the cache)")
    args = parse(parser, argv)
    unknown = [fmt for fmt in args.formats if fmt not in FORMATS]
    if unknown:
        raise BadValue(f"--formats {unknown}: choose from {', '.join(FORMATS)}")
    written = write_reuters_text(args.out, tuple(args.formats), args.multi_label, args.data_dir)
    for path in written:
        print(path)
    return written
