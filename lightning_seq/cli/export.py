"""``scripts/export.py`` / ``lightning-seq export``: write the model, then check it against the checkpoint."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from lightning_seq.cli.parsers import command_parser, parse
from lightning_seq.errors import report_user_errors
from lightning_seq.export.exporter import SUFFIXES, export_checkpoint, parity, sidecar
from lightning_seq.inference.loading import load_datamodule


@report_user_errors
def main(argv: Sequence[str] | None = None) -> Path:
    parser = command_parser("scripts/export.py", "A checkpoint as an ONNX or TorchScript model, with a parity check.")
    parser.add_argument("--ckpt", type=Path, required=True, help="checkpoint written by scripts/fit.py")
    parser.add_argument("--format", choices=list(SUFFIXES), default="onnx")
    parser.add_argument("--out", type=Path, help="model file (default: the checkpoint's path with .onnx / .pt)")
    parser.add_argument("--check_batches", type=int, default=4, help="real test batches to compare logits on (0: skip)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed logit difference")
    parser.add_argument("--data_dir", help="directory with reuters.npz, for the check (default: $LIGHTNING_SEQ_DATA)")
    args = parse(parser, argv)
    path, net = export_checkpoint(args.ckpt, args.format, args.out)
    print(f"Exported {args.ckpt} -> {path} (+ {sidecar(path).name})")
    if args.check_batches > 0:
        datamodule = load_datamodule(args.ckpt, data_dir=args.data_dir)
        datamodule.setup("test")
        batches = [
            (batch.tokens, batch.lengths)
            for batch, _ in zip(datamodule.test_dataloader(), range(args.check_batches), strict=False)
        ]
        worst, items = parity(net, path, batches)
        print(f"Parity on {items} real test items: largest |logit difference| {worst:.2e} (tolerance {args.tolerance})")
        if not worst <= args.tolerance:
            print(f"error: the exported model differs from the checkpoint by {worst:.2e}", file=sys.stderr)
            raise SystemExit(1)
    return path
