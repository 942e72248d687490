"""``scripts/test.py``: test a checkpoint on Keras's test split and write the per-topic report and figures.

The checkpoint carries its data settings (vocabulary, maxlen, padding), so only its path is needed.
Files go to ``<run>/evaluation/<checkpoint name>/`` unless ``--out`` says otherwise: ``test_report.md``,
``test_report.json``, ``confusion_matrix.png``, ``per_class_f1.png``, ``test_metrics.json`` and a
TensorBoard event file with the same figures (``tensorboard --logdir <run>``).
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Sequence
from pathlib import Path

from lightning import Trainer
from lightning.pytorch.loggers import TensorBoardLogger

from lightning_seq.callbacks import TestReport
from lightning_seq.checkpoints import load_datamodule, load_model
from lightning_seq.errors import report_user_errors
from lightning_seq.report import ClassificationReport


def default_out(checkpoint: Path) -> Path:
    """``<run>/evaluation/<checkpoint stem>`` for ``<run>/checkpoints/x.ckpt``, else beside the file."""
    run = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
    return run / "evaluation" / checkpoint.stem


def evaluate(
    checkpoint: str | Path,
    out: str | Path | None = None,
    data_dir: str | None = None,
    batch_size: int | None = None,
    accelerator: str = "auto",
) -> tuple[ClassificationReport, Path]:
    """Test ``checkpoint``; returns its report and the directory the files were written to."""
    checkpoint = Path(checkpoint)
    out = Path(out) if out else default_out(checkpoint)
    model = load_model(checkpoint)
    datamodule = load_datamodule(checkpoint, data_dir=data_dir, batch_size=batch_size)
    report = TestReport(dirpath=str(out))
    trainer = Trainer(
        accelerator=accelerator,
        devices=1,
        logger=TensorBoardLogger(out, name="", version="", default_hp_metric=False),
        callbacks=[report],
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
    )
    metrics = trainer.test(model, datamodule=datamodule, verbose=False)[0]
    (out / "test_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return report.report, out


@report_user_errors
def main(argv: Sequence[str] | None = None) -> ClassificationReport:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, required=True, help="checkpoint written by scripts/fit.py")
    parser.add_argument("--out", type=Path, help="output directory (default: <run>/evaluation/<checkpoint name>)")
    parser.add_argument("--data_dir", help="directory with reuters.npz (default: $LIGHTNING_SEQ_DATA or the cache)")
    parser.add_argument("--batch_size", type=int, help="test batch size (default: the training run's)")
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")  # the data is an in-memory tensor
    report, out = evaluate(args.ckpt, args.out, args.data_dir, args.batch_size, args.accelerator)
    table = report.to_markdown().splitlines()
    print("\n".join([*table[:14], "| ... |", *table[-2:]]))
    print(f"macro F1 {report.macro.f1:.4f}, weighted F1 {report.weighted.f1:.4f}")
    names = ("test_report.md", "test_report.json", "confusion_matrix.png", "per_class_f1.png", "test_metrics.json")
    print(f"Written to {out}: " + ", ".join(names) + "; TensorBoard: tensorboard --logdir " + str(out))
    return report
