"""``scripts/export.py`` / ``lightning-seq export``: write the model, then check it against the checkpoint.

The model and its sidecar are moved into place only once the parity check has passed: a model that differs from
its checkpoint, or one cut short by a full disk, is never left where a deployment would pick it up.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from torch.utils.data import DataLoader

from lightning_seq.cli.parsers import command_parser, parse
from lightning_seq.data.text_datamodule import TextFilesDataModule
from lightning_seq.errors import MissingFile, report_user_errors, shown_path
from lightning_seq.export.exporter import SUFFIXES, Network, check_out, default_out, export_checkpoint, parity, sidecar
from lightning_seq.inference.loading import (
    FILE_SETTINGS,
    MISSING_HERE,
    checkpoint_file_problem,
    load_datamodule,
    reading_checkpoint_file,
)

CHECK_FIX = "pass --test_file FILE with your own labelled texts, or --check_batches 0 to skip the check"


def check_loader(checkpoint: Path, data_dir: str | None, test_file: str | None = None) -> tuple[str, DataLoader]:
    """Real items for the parity check: ``test_file`` if given, else the run's test split, else (a text-files run
    without a test file here) its validation rows. A file the checkpoint names is read only if it is a regular
    file, and a message about it never quotes what it holds."""
    datamodule = load_datamodule(checkpoint, data_dir=data_dir, test_file=test_file)
    if not isinstance(datamodule, TextFilesDataModule):
        datamodule.setup("test")
        return "test", datamodule.test_dataloader()
    if test_file is not None:  # the user's own file: its usual messages
        datamodule.setup("test")
        return "test", datamodule.test_dataloader()
    hp = datamodule.hparams
    validation_setting = "val_file" if hp.val_file is not None else "train_file"
    for split, stage, setting in (("test", "test", "test_file"), ("validation", "validate", validation_setting)):
        path = hp[setting]
        if path is None or checkpoint_file_problem(path, hp.format) == MISSING_HERE:
            continue  # not recorded, or not on this machine: the next split
        with reading_checkpoint_file(setting, path, hp.format, split, CHECK_FIX):
            datamodule.setup(stage)
        return split, datamodule.test_dataloader() if stage == "test" else datamodule.val_dataloader()
    raise MissingFile(
        f"none of the run's files ({', '.join(shown_path(hp[key]) for key in FILE_SETTINGS[::-1])}) is here to "
        "check the export "
        f"on; run where they are, or {CHECK_FIX}"
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
    parser.add_argument(
        "--out",
        type=Path,
        help="model file, .onnx or .pt/.pth/.torchscript (default: the checkpoint's path with .onnx / .pt)",
    )
    parser.add_argument("--check_batches", type=int, default=4, help="real test batches to compare logits on (0: skip)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed logit difference")
    parser.add_argument(
        "--data_dir", help="Reuters runs: directory with reuters.npz, for the check (default: $LIGHTNING_SEQ_DATA)"
    )
    parser.add_argument(
        "--test_file",
        "--data.test_file",
        help="text-files runs: labelled texts in the run's format to check on (default: the run's test file, else "
        "its validation rows)",
    )
    args = parse(parser, argv)
    checkpoints = [Path(path) for path in args.ckpt]
    out = check_out(args.out or default_out(checkpoints[0], args.format), args.format, checkpoints)
    check = None
    if args.check_batches > 0:  # the data first: a file that cannot be read stops the run before any export work
        split, loader = check_loader(checkpoints[0], args.data_dir, args.test_file)
        batches = [(batch.tokens, batch.lengths) for batch, _ in zip(loader, range(args.check_batches), strict=False)]

        def check(net: Network, staged: Path) -> None:
            worst, items = parity(net, staged, batches)
            print(
                f"Parity on {items} real {split} items: largest |logit difference| {worst:.2e} "
                f"(tolerance {args.tolerance})"
            )
            if not worst <= args.tolerance:
                print(
                    f"error: the exported model differs from the checkpoint by {worst:.2e}; nothing was written",
                    file=sys.stderr,
                )
                raise SystemExit(1)

    path, _ = export_checkpoint(checkpoints, args.format, out, check)
    print(f"Exported {', '.join(map(str, checkpoints))} -> {path} (+ {sidecar(path).name})")
    return path
