"""``scripts/export.py`` / ``lightning-seq export``: write the model, then check it against the checkpoint."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from torch.utils.data import DataLoader

from lightning_seq.cli.parsers import command_parser, parse
from lightning_seq.data.text_datamodule import TextFilesDataModule
from lightning_seq.errors import MissingFile, report_user_errors
from lightning_seq.export.exporter import SUFFIXES, export_checkpoint, parity, sidecar
from lightning_seq.inference.loading import load_datamodule


def check_loader(checkpoint: Path, data_dir: str | None) -> tuple[str, DataLoader]:
    """Real items for the parity check: the run's test split, else (a text-files run without a test file here)
    its validation rows."""
    datamodule = load_datamodule(checkpoint, data_dir=data_dir)
    if not isinstance(datamodule, TextFilesDataModule):
        datamodule.setup("test")
        return "test", datamodule.test_dataloader()
    hp = datamodule.hparams
    for split, stage, files in (
        ("test", "test", [hp.test_file]),
        ("validation", "validate", [hp.val_file, hp.train_file]),
    ):
        existing = next((file for file in files if file is not None), None)
        if existing is not None and Path(existing).exists():
            datamodule.setup(stage)
            return split, datamodule.test_dataloader() if stage == "test" else datamodule.val_dataloader()
    raise MissingFile(
        f"none of the run's files ({hp.test_file}, {hp.val_file}, {hp.train_file}) is here to check the export "
        "on; run where they are, or pass --check_batches 0 to skip the check"
    )


@report_user_errors
def main(argv: Sequence[str] | None = None) -> Path:
    parser = command_parser("scripts/export.py", "A checkpoint as an ONNX or TorchScript model, with a parity check.")
    parser.add_argument(
        "--ckpt",
        action="append",
        required=True,
        help="checkpoint written by scripts/fit.py; repeat it to export an ensemble (their mean probability)",
    )
    parser.add_argument("--format", choices=list(SUFFIXES), default="onnx")
    parser.add_argument("--out", type=Path, help="model file (default: the checkpoint's path with .onnx / .pt)")
    parser.add_argument("--check_batches", type=int, default=4, help="real test batches to compare logits on (0: skip)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed logit difference")
    parser.add_argument(
        "--data_dir", help="Reuters runs: directory with reuters.npz, for the check (default: $LIGHTNING_SEQ_DATA)"
    )
    args = parse(parser, argv)
    args.ckpt = [Path(path) for path in args.ckpt]
    path, net = export_checkpoint(args.ckpt, args.format, args.out)
    print(f"Exported {', '.join(map(str, args.ckpt))} -> {path} (+ {sidecar(path).name})")
    if args.check_batches > 0:
        split, loader = check_loader(args.ckpt[0], args.data_dir)
        batches = [(batch.tokens, batch.lengths) for batch, _ in zip(loader, range(args.check_batches), strict=False)]
        worst, items = parity(net, path, batches)
        print(
            f"Parity on {items} real {split} items: largest |logit difference| {worst:.2e} (tolerance {args.tolerance})"
        )
        if not worst <= args.tolerance:
            print(f"error: the exported model differs from the checkpoint by {worst:.2e}", file=sys.stderr)
            raise SystemExit(1)
    return path
