"""Callbacks the CLI always attaches: epoch timing, the per-epoch record and curves, the test report and figures.

What they write goes to the run's directory (:func:`~lightning_seq.training.run_directory.run_directory`), so a
run leaves the same files whichever logger it has, or none.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ThroughputMonitor
from lightning.pytorch.loggers import TensorBoardLogger
from torch import Tensor

from lightning_seq.data.batching import Batch
from lightning_seq.reporting.plots import (
    Figure,
    confusion_matrix_figure,
    per_class_f1_figure,
    save_figure,
    save_figures_or_warn,
    training_curves_figure,
)
from lightning_seq.reporting.report import (
    ClassificationReport,
    MultilabelReportMetrics,
    ReportMetrics,
    with_split_overlap,
)
from lightning_seq.training.run_directory import run_directory

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


class TokenThroughput(ThroughputMonitor):
    """Lightning's ``ThroughputMonitor`` for this package's batches: samples, and real (non-padding) tokens as its
    items. Logs ``train|device/samples_per_sec`` and ``train|device/items_per_sec`` every ``log_every_n_steps``.

    Args:
        window_size: Batches the rates are averaged over.
    """

    def __init__(self, window_size: int = 50) -> None:
        super().__init__(batch_size_fn=_samples, length_fn=_tokens, window_size=window_size)


def _samples(batch: Batch) -> int:
    return len(batch.labels)


def _tokens(batch: Batch) -> int:
    return int(batch.lengths.sum())


class EpochEndCallback(L.Callback):
    """Calls :meth:`on_epoch_complete` once every value of an epoch has been logged, on rank zero.

    That is when the next epoch starts, or training ends: the module logs its training-epoch metrics in its own
    ``on_train_epoch_end``, which Lightning calls after the callbacks' hook of the same name and after validation.
    """

    def __init__(self) -> None:
        self._pending: int | None = None  # the finished epoch (0-based) not yet handed on

    def on_epoch_complete(self, trainer: L.Trainer, epoch: int, metrics: dict[str, float]) -> None:
        """``epoch`` counts from 1; ``metrics`` are the epoch's logged values."""

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._pending = trainer.current_epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush(trainer)

    def _flush(self, trainer: L.Trainer) -> None:
        epoch, self._pending = self._pending, None
        if epoch is None or not trainer.is_global_zero:
            return
        metrics = {key: float(value) for key, value in trainer.callback_metrics.items() if value.numel() == 1}
        self.on_epoch_complete(trainer, epoch + 1, metrics)


class TrainingCurves(EpochEndCallback):
    """``epochs.csv`` (every epoch's logged values, one row each, written as epochs end) and, at the end of
    ``fit``, ``training_curves.png`` (train/val loss and accuracy per epoch) drawn from it, next to the checkpoints.

    The record lives in the run's directory, so a resumed run continues it: rows of the epochs it redoes are
    replaced. It needs no particular logger.

    Args:
        filename: Name of the PNG file.
    """

    RECORD = "epochs.csv"

    def __init__(self, filename: str = "training_curves.png") -> None:
        super().__init__()
        self.filename = filename
        self.path: Path | None = None

    def on_epoch_complete(self, trainer: L.Trainer, epoch: int, metrics: dict[str, float]) -> None:
        path = run_directory(trainer) / self.RECORD
        rows = [row for row in read_epochs(path) if int(row["epoch"]) < epoch]  # a resumed run redoes later ones
        rows.append({"epoch": epoch, **metrics})
        columns = list(dict.fromkeys(key for row in rows for key in row))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, columns)
            writer.writeheader()
            writer.writerows(rows)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        directory = run_directory(trainer)
        rows = read_epochs(directory / self.RECORD)
        curves = {
            tag: [(int(row["epoch"]), float(row[tag])) for row in rows if row.get(tag) not in (None, "")]
            for tag in CURVE_TAGS
        }
        curves = {tag: points for tag, points in curves.items() if points}
        if not curves:
            return  # nothing logged per epoch (e.g. a run stopped inside its first epoch)
        checkpoints = trainer.checkpoint_callback.dirpath if trainer.checkpoint_callback else None
        figure = training_curves_figure(
            curves, f"{_model_label(pl_module)} training curves", _best_epoch(trainer, rows)
        )
        self.path = save_figure(figure, Path(checkpoints or directory) / self.filename)
        print(f"Training curves: {self.path}", flush=True)


def _best_epoch(trainer: L.Trainer, rows: list[dict[str, str]]) -> int | None:
    """The epoch (from 1) whose value of the checkpoint callback's monitor is its best, as ``epochs.csv`` has it."""
    callback = trainer.checkpoint_callback
    monitor = getattr(callback, "monitor", None)
    scored = [
        (float(row[monitor]), int(row["epoch"])) for row in rows if monitor and row.get(monitor) not in (None, "")
    ]
    if not scored:
        return None
    best = max if getattr(callback, "mode", "min") == "max" else min
    return best(scored, key=lambda pair: pair[0])[1]  # the first epoch of equal scores, as ModelCheckpoint keeps


def read_epochs(path: Path) -> list[dict[str, str]]:
    """The rows of an ``epochs.csv`` (none if it does not exist yet)."""
    if not path.is_file():
        return []
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


class TestReport(L.Callback):
    """After every test run: ``test_report.md`` / ``.json`` (per topic), ``confusion_matrix.png`` and
    ``per_class_f1.png`` in the run's directory, and the two figures in TensorBoard under ``test/`` when the run
    logs to TensorBoard.

    Reads the logits that the module's ``test_step`` returns; torchmetrics syncs the counts across DDP ranks.

    Args:
        dirpath: Where the files go; defaults to the run's directory.
    """

    def __init__(self, dirpath: str | None = None) -> None:
        self.dirpath = dirpath
        self.metrics: ReportMetrics | MultilabelReportMetrics | None = None
        self.multi_label = False
        self.report: ClassificationReport | None = None
        self.written: list[Path] = []

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        names = getattr(trainer.datamodule, "topic_names", None) or [
            str(index) for index in range(pl_module.hparams.num_classes)
        ]
        self.multi_label = bool(getattr(pl_module, "multi_label", False))
        report_class = MultilabelReportMetrics if self.multi_label else ReportMetrics
        self.metrics = report_class(names).to(pl_module.device)

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
        self.metrics.update(pl_module.decisions(outputs) if self.multi_label else outputs, batch.labels)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.report = with_split_overlap(self.metrics.report(), trainer.datamodule)  # every rank takes part in the sync
        if not trainer.is_global_zero:
            return
        directory = Path(self.dirpath) if self.dirpath else run_directory(trainer)
        self.written = [*self.report.write(directory)]  # the numbers first: a figure never costs them
        title = _model_label(pl_module)
        drawers = {"per_class_f1": lambda: per_class_f1_figure(self.report, f"{title} test per-label F1")}
        if not self.multi_label:  # a multi-label item has no single true class to put on a row
            drawers["confusion_matrix"] = lambda: confusion_matrix_figure(self.report, f"{title} test")
        loggers = [logger for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]

        def shown(name: str, figure: Figure) -> None:  # images are a TensorBoard view; every logger gets the files
            for logger in loggers:
                logger.experiment.add_figure(f"test/{name}", figure, trainer.global_step, close=False)

        self.written += save_figures_or_warn(drawers, directory, shown)
        print("Test report: " + ", ".join(str(path) for path in self.written), flush=True)


def _model_label(pl_module: L.LightningModule) -> str:
    """``GRU``, ``BiLSTM x2``: a short name for figure titles."""
    hp = pl_module.hparams
    if "cell" not in hp:
        return type(pl_module).__name__
    label = ("Bi" if hp.get("bidirectional") else "") + hp["cell"].upper()
    return label + (f" x{hp['num_layers']}" if hp.get("num_layers", 1) > 1 else "")
