"""Callbacks the CLI always attaches: epoch timing, the test report and figures, the curves."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from lightning_seq.reporting.logs import epoch_curves
from lightning_seq.reporting.plots import (
    confusion_matrix_figure,
    per_class_f1_figure,
    save_figure,
    training_curves_figure,
)
from lightning_seq.reporting.report import ClassificationReport, ReportMetrics

CURVE_TAGS = ("train/loss_epoch", "val/loss", "train/acc", "val/acc")


class EpochTimer(L.Callback):
    """Logs ``time/epoch_s``: wall seconds per training epoch, its validation pass included.

    An epoch that a resumed run entered midway is not timed: only its remainder ran in this process, and
    Lightning does not call ``on_train_epoch_start`` for it (a start left unset once read as the machine's uptime).
    """

    def __init__(self) -> None:
        self.epoch_seconds: list[float] = []
        self._start: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning runs the epoch's validation before this hook, so its time is included.
        if self._start is None:
            return
        seconds = time.perf_counter() - self._start
        self._start = None
        self.epoch_seconds.append(seconds)
        pl_module.log("time/epoch_s", seconds, on_step=False, on_epoch=True)


class TestReport(L.Callback):
    """After every test run: ``test_report.md`` / ``.json`` (per topic), ``confusion_matrix.png`` and
    ``per_class_f1.png``, and the two figures in TensorBoard under ``test/``.

    Reads the logits that the module's ``test_step`` returns; torchmetrics syncs the counts across DDP ranks.

    Args:
        dirpath: Where the files go; defaults to the run's log directory.
    """

    def __init__(self, dirpath: str | None = None) -> None:
        self.dirpath = dirpath
        self.metrics: ReportMetrics | None = None
        self.report: ClassificationReport | None = None
        self.written: list[Path] = []

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        names = getattr(trainer.datamodule, "topic_names", None) or [
            str(index) for index in range(pl_module.hparams.num_classes)
        ]
        self.metrics = ReportMetrics(names).to(pl_module.device)

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not isinstance(outputs, Tensor):
            raise TypeError("TestReport needs test_step to return the batch's logits")
        self.metrics.update(outputs, batch.labels)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.report = self.metrics.report()  # every rank takes part in the sync
        directory = Path(self.dirpath or trainer.log_dir or trainer.default_root_dir)  # log_dir: a collective
        if not trainer.is_global_zero:
            return
        title = _model_label(pl_module)
        figures = {
            "confusion_matrix": confusion_matrix_figure(self.report, f"{title} test"),
            "per_class_f1": per_class_f1_figure(self.report, f"{title} test per-topic F1"),
        }
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                for name, figure in figures.items():
                    logger.experiment.add_figure(f"test/{name}", figure, trainer.global_step, close=False)
        self.written = [*self.report.write(directory)]
        self.written += [save_figure(figure, directory / f"{name}.png") for name, figure in figures.items()]
        rank_zero_info("Test report: " + ", ".join(str(path) for path in self.written))


class TrainingCurves(L.Callback):
    """At the end of ``fit``: ``training_curves.png`` (train/val loss and accuracy per epoch) next to the
    checkpoints, drawn from the values the run logged to TensorBoard, not recomputed.

    Args:
        filename: Name of the PNG file.
    """

    def __init__(self, filename: str = "training_curves.png") -> None:
        self.filename = filename
        self.path: Path | None = None

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        logger = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if logger is None:
            warnings.warn("TrainingCurves reads TensorBoard event files; no TensorBoardLogger, no curves", stacklevel=2)
            return
        logger.experiment.flush()
        curves = epoch_curves(logger.log_dir, CURVE_TAGS)
        if not curves:
            return  # nothing logged per epoch (e.g. a run stopped inside its first epoch)
        checkpoints = trainer.checkpoint_callback.dirpath if trainer.checkpoint_callback else None
        directory = Path(checkpoints or logger.log_dir)
        figure = training_curves_figure(curves, f"{_model_label(pl_module)} training curves")
        self.path = save_figure(figure, directory / self.filename)
        rank_zero_info(f"Training curves: {self.path}")


def _model_label(pl_module: L.LightningModule) -> str:
    """``GRU``, ``BiLSTM x2``: a short name for figure titles."""
    hp = pl_module.hparams
    if "cell" not in hp:
        return type(pl_module).__name__
    label = ("Bi" if hp.get("bidirectional") else "") + hp["cell"].upper()
    return label + (f" x{hp['num_layers']}" if hp.get("num_layers", 1) > 1 else "")
