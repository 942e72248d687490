"""What a training run prints: a short model table, one line per epoch, and nothing that is not about the run.

Epochs are counted from 1 wherever a person reads them: the progress bar, the epoch lines, checkpoint
names and the training curves (Lightning's own ``epoch`` scalar in TensorBoard stays 0-based).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import lightning as L
import torchmetrics
import torchmetrics.classification
from lightning.pytorch.callbacks import ModelCheckpoint, ModelSummary, TQDMProgressBar
from lightning.pytorch.utilities.model_summary import get_human_readable_count
from lightning.pytorch.utilities.rank_zero import rank_zero_info

# Lightning's start-up lines that say nothing about this run (an advert, hardware that is not there).
_NOT_ABOUT_THE_RUN = (
    "💡 Tip:",
    "Trainer already configured with model summary",
    "TPU available: False",
    "HPU available",
)


class _DropLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_NOT_ABOUT_THE_RUN)


def quiet_start() -> None:
    """Keep Lightning's adverts and its own deprecation notices (not the user's to act on) off the console."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropLines())
    warnings.filterwarnings("ignore", r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")


class ModelTable(ModelSummary):
    """The model's layers with their parameter counts; metric objects and an all-zero FLOPs column left out."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        columns = dict(summary_data)
        rows = [
            (name, kind, params)
            for name, kind, params in zip(columns["Name"], columns["Type"], columns["Params"], strict=True)
            if not _is_metric(kind)
        ]
        headers = ("Name", "Type", "Params")
        widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]
        line = " | ".join(f"{{:<{width}}}" for width in widths)
        table = [line.format(*headers), "-" * (sum(widths) + 6)]
        table += [line.format(*row) for row in rows]
        table += [
            "-" * (sum(widths) + 6),
            f"{get_human_readable_count(trainable_parameters)} trainable parameters of "
            f"{get_human_readable_count(total_parameters)} ({model_size:.1f} MB)",
        ]
        if total_flops:
            table.append(f"{get_human_readable_count(total_flops)} FLOPs")
        rank_zero_info("\n".join(table))


def _is_metric(type_name: str) -> bool:
    found = getattr(torchmetrics, type_name, None) or getattr(torchmetrics.classification, type_name, None)
    return isinstance(found, type) and issubclass(found, torchmetrics.Metric | torchmetrics.MetricCollection)


class EpochProgressBar(TQDMProgressBar):
    """Lightning's progress bar, with epochs counted as people count them: ``Epoch 1/5``."""

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch + 1}{total}")


class EpochLog(L.Callback):
    """One line per epoch that stays on screen, as Keras prints it:
    ``Epoch 3/5: loss 0.8123 - acc 0.7890 - val_loss 1.0234 - val_acc 0.7450 - 4.1 s``.

    Printed when the next epoch starts (or training ends): only then has every value of the epoch, the
    module's own epoch-end metrics included, been logged. It goes through the progress bar, never onto its line.
    """

    FIELDS = (("train/loss_epoch", "loss"), ("train/acc", "acc"), ("val/loss", "val_loss"), ("val/acc", "val_acc"))

    def __init__(self) -> None:
        self._pending: int | None = None  # the finished epoch whose line is still to print

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._pending = trainer.current_epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush(trainer)

    def _flush(self, trainer: L.Trainer) -> None:
        if self._pending is None or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        parts = [f"{label} {float(metrics[key]):.4f}" for key, label in self.FIELDS if key in metrics]
        if "time/epoch_s" in metrics:
            parts.append(f"{float(metrics['time/epoch_s']):.1f} s")
        total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        line = f"Epoch {self._pending + 1}{total}: " + " - ".join(parts)
        self._pending = None
        bar = trainer.progress_bar_callback
        if bar is not None and getattr(bar, "is_enabled", False):
            bar.print(line)
        else:
            print(line, flush=True)


class OneBasedCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``{epoch}`` in file names counts from 1, like the console and the curves."""

    def format_checkpoint_name(
        self, metrics: dict[str, Any], filename: str | None = None, ver: int | None = None, prefix: str | None = None
    ) -> str:
        if "epoch" in metrics:
            metrics = {**metrics, "epoch": int(metrics["epoch"]) + 1}
        return super().format_checkpoint_name(metrics, filename, ver, prefix)
