"""What a finished fit leaves for results tables: ``test_metrics.json``, ``run_summary.json`` and HParams rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

from lightning_seq.training.callbacks import EpochTimer


def write_run_report(trainer: L.Trainer, directory: Path, metrics: dict[str, float], best_checkpoint: str) -> Path:
    """``test_metrics.json`` (the test metrics) and ``run_summary.json`` (what a results table needs)."""
    directory.mkdir(parents=True, exist_ok=True)
    if metrics:
        (directory / "test_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    timer = next((cb for cb in trainer.callbacks if isinstance(cb, EpochTimer)), None)
    seconds = timer.epoch_seconds if timer else []
    score = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
    summary: dict[str, Any] = {
        "best_checkpoint": best_checkpoint or None,
        "best_val_acc": float(score) if score is not None else None,
        "epochs": trainer.current_epoch,  # all completed epochs, a resumed run's earlier ones included
        "seconds_per_epoch": sum(seconds) / len(seconds) if seconds else None,  # epochs run by this process
        "parameters": sum(p.numel() for p in trainer.lightning_module.parameters()),
        "test": metrics or None,  # None: --test_after_fit false
    }
    (directory / "run_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log_hparams_with_results(trainer, summary)
    if metrics:
        rounded = " - ".join(f"{key.removeprefix('test/')} {value:.4f}" for key, value in metrics.items())
        print(f"Test metrics: {rounded} (written to {directory / 'test_metrics.json'})", flush=True)
    return directory


RESULTS_GROUP = "whole_run"  # the run's results beside its settings; sorts after train/ and val/ in TensorBoard


def log_hparams_with_results(trainer: L.Trainer, summary: dict[str, Any]) -> None:
    """Every logger gets the run's settings beside its best validation and test results (``whole_run/*``).

    TensorBoard shows them together in its HParams view; other loggers store the settings as parameters and the
    results as metrics. TensorBoard orders chart groups by name, ignoring punctuation, so the group's name starts
    past ``val`` and its one-point charts come after the training curves.
    """
    results = {f"{RESULTS_GROUP}/best_val_acc": summary["best_val_acc"], f"{RESULTS_GROUP}/epochs": summary["epochs"]}
    results |= {f"{RESULTS_GROUP}/{key}": value for key, value in (summary["test"] or {}).items()}
    results = {key: value for key, value in results.items() if value is not None}
    plain = hparams_table(trainer)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(plain, results)
        else:
            logger.log_hyperparams(plain)
            logger.log_metrics(results, step=trainer.global_step)
        logger.save()


# Settings that mean something only for multi-label runs: a single-label run's HParams row leaves them out.
MULTI_LABEL_ONLY = ("per_label_thresholds", "at_least_one_label", "multi_label_loss")


def hparams_table(trainer: L.Trainer) -> dict[str, int | float | str | bool]:
    """The run's settings as one HParams row: the model's, and the data's under ``data/``, plain values only,
    without LightningCLI's bookkeeping (``_instantiator``, ``_class_path``) or a single-label run's multi-label
    settings."""
    module = trainer.lightning_module
    settings = dict(module.hparams)
    if not getattr(module, "multi_label", False):
        settings = {key: value for key, value in settings.items() if key not in MULTI_LABEL_ONLY}
    if trainer.datamodule is not None:
        settings |= {f"data/{key}": value for key, value in trainer.datamodule.hparams.items()}
    return {
        key: value
        for key, value in settings.items()
        if isinstance(value, int | float | str | bool) and not key.rpartition("/")[2].startswith("_")
    }
