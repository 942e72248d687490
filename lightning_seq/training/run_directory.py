"""The one folder a run writes to, whichever logger it has (TensorBoard, CSV, MLflow, several, or none)."""

from __future__ import annotations

from pathlib import Path

import lightning as L


def run_directory(trainer: L.Trainer) -> Path:
    """The folder that holds the run's ``checkpoints/``: its config, reports, curves and metrics go beside them.

    The same rule as Lightning's ``ModelCheckpoint`` uses for its default ``dirpath``: the first logger's
    ``<save_dir>/<name>/<version>`` (``version_N`` for TensorBoard and CSV, experiment and run id for MLflow), or
    ``default_root_dir`` without a logger. ``Trainer.log_dir`` is not it: for MLflow it is the whole store.
    Not a collective: call it where the files are written (rank zero).
    """
    if not trainer.loggers:
        return Path(trainer.default_root_dir)
    logger = trainer.loggers[0]
    save_dir = logger.save_dir if logger.save_dir is not None else trainer.default_root_dir
    version = logger.version if isinstance(logger.version, str) else f"version_{logger.version}"
    return Path(save_dir, str(logger.name), version)
