"""What a training run prints: a progress bar and one line per epoch that stays.

Epochs are counted from 1 wherever a person reads them: the progress bar, the epoch lines, checkpoint
names and the training curves (Lightning's own ``epoch`` scalar in TensorBoard stays 0-based).
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar

from lightning_seq.training.callbacks import EpochEndCallback


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


class OneBasedCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``{epoch}`` in file names counts from 1, like the console and the curves."""

    def format_checkpoint_name(
        self, metrics: dict[str, Any], filename: str | None = None, ver: int | None = None, prefix: str | None = None
    ) -> str:
        if "epoch" in metrics:
            metrics = {**metrics, "epoch": int(metrics["epoch"]) + 1}
        return super().format_checkpoint_name(metrics, filename, ver, prefix)
