"""What a training run prints: a progress bar and one line per epoch that stays.

Epochs are counted from 1 wherever a person reads them: the progress bar, the epoch lines, checkpoint
names and the training curves (Lightning's own ``epoch`` scalar in TensorBoard stays 0-based).
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint, ModelSummary, TQDMProgressBar
from lightning.pytorch.utilities.model_summary import ModelSummary as Summary
from lightning.pytorch.utilities.rank_zero import rank_zero_info
from torchmetrics import Metric, MetricCollection

from lightning_seq.training.callbacks import EpochEndCallback

# Lightning logs its console lines through these loggers (rank_zero_info).
LIGHTNING_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class _ConsoleFilter(logging.Filter):
    """Drops Lightning's adverts (``💡 Tip: ... install litlogger``) and holds back its "`Trainer.fit` stopped"
    line, which it logs before the hook that prints the last epoch's line, until :class:`EpochLog` has printed it."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[str] = []
        self._releasing = False

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("💡 Tip:"):
            return False
        if message.startswith("`Trainer.fit` stopped") and not self._releasing:
            self.held.append(message)
            return False
        return True

    def release(self) -> None:
        held, self.held = self.held, []
        self._releasing = True
        try:
            for message in held:
                rank_zero_info(message)
        finally:
            self._releasing = False


_active: list[_ConsoleFilter] = []


@contextlib.contextmanager
def console_messages() -> Iterator[None]:
    """Inside the block Lightning prints no adverts, and its "`Trainer.fit` stopped" line comes after the last
    epoch's line (Lightning has no setting for either; a logging filter is its loggers' supported hook)."""
    console_filter = _ConsoleFilter()
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    for logger in loggers:
        logger.addFilter(console_filter)
    _active.append(console_filter)
    try:
        yield
    finally:
        _active.remove(console_filter)
        for logger in loggers:
            logger.removeFilter(console_filter)
        console_filter.release()


class ModelTable(ModelSummary):
    """Lightning's layer table without the torchmetrics objects (accuracy, F1, loss means): they hold no
    parameters and, at depth 2, made half its rows. The totals still count every module."""

    def _summary(self, trainer: L.Trainer, pl_module: L.LightningModule) -> Summary:
        summary = super()._summary(trainer, pl_module)
        if type(summary) is Summary:
            layers = summary._layer_summary
            metrics = [name for name, layer in layers.items() if isinstance(layer._module, Metric | MetricCollection)]
            summary._layer_summary = OrderedDict(
                (name, layer)
                for name, layer in layers.items()
                if not any(name == metric or name.startswith(metric + ".") for metric in metrics)
            )
        return summary


class EpochProgressBar(TQDMProgressBar):
    """Lightning's progress bar, with epochs counted as people count them: ``Epoch 1/5``."""

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch + 1}{total}")


class EpochLog(EpochEndCallback):
    """One line per epoch that stays on screen, as Keras prints it:
    ``Epoch 3/5: loss 0.8123 - acc 0.7890 - val_loss 1.0234 - val_acc 0.7450 - 4.1 s``.

    It goes through the progress bar (never onto its line) when there is one.
    """

    FIELDS = (("train/loss_epoch", "loss"), ("train/acc", "acc"), ("val/loss", "val_loss"), ("val/acc", "val_acc"))

    def on_epoch_complete(self, trainer: L.Trainer, epoch: int, metrics: dict[str, float]) -> None:
        parts = [f"{label} {metrics[key]:.4f}" for key, label in self.FIELDS if key in metrics]
        if "time/epoch_s" in metrics:
            parts.append(f"{metrics['time/epoch_s']:.1f} s")
        total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        line = f"Epoch {epoch}{total}: " + " - ".join(parts)
        bar = trainer.progress_bar_callback
        try:  # once training ends the bar is closed, and a closed bar prints nothing
            bar_open = bar is not None and bar.is_enabled and not bar.train_progress_bar.disable
        except (AttributeError, TypeError):  # no training bar (yet), or not a tqdm bar
            bar_open = False
        if bar_open:
            bar.print(line)
        else:
            print(line, flush=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)  # the last epoch's line
        for console_filter in _active:  # then Lightning's "`Trainer.fit` stopped" line
            console_filter.release()


class OneBasedCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``{epoch}`` in file names counts from 1, like the console and the curves."""

    def format_checkpoint_name(
        self, metrics: dict[str, Any], filename: str | None = None, ver: int | None = None, prefix: str | None = None
    ) -> str:
        if "epoch" in metrics:
            metrics = {**metrics, "epoch": int(metrics["epoch"]) + 1}
        return super().format_checkpoint_name(metrics, filename, ver, prefix)
