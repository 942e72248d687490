"""``lightning-seq pretrain`` (``python scripts/pretrain.py``): a language model over the training texts, whose
encoder a classifier then starts from (``--model.encoder_checkpoint``; :mod:`lightning_seq.training.pretraining`).

A LightningCLI ``fit`` of :class:`~lightning_seq.training.pretraining.LanguageModel` on the same DataModules as the
classifier; the run's ``checkpoints/encoder.ckpt`` holds the final weights.
"""

from __future__ import annotations

import sys
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities import rank_zero_info

from lightning_seq.cli.known_warnings import expected_library_warnings
from lightning_seq.cli.lightning_cli import (
    DEFAULT_DATAMODULE,
    TENSORBOARD_LOGGER,
    build_cli,
    class_config,
    with_callbacks,
)
from lightning_seq.cli.run_setup import (
    ensure_writable,
    place_loggers,
    refuse_to_overwrite,
    require_supported_precision,
    require_valid_devices,
    require_visible_accelerator,
)
from lightning_seq.data.files import naming_data_dir_flag
from lightning_seq.errors import report_user_errors
from lightning_seq.training.callbacks import EpochTimer
from lightning_seq.training.checkpointing import AtomicCheckpointIO
from lightning_seq.training.console import EpochLog, EpochProgressBar
from lightning_seq.training.pretraining import LanguageModel
from lightning_seq.training.run_directory import run_directory

DESCRIPTION = (
    "Pretrain a classifier's encoder as a language model on the training texts (then --model.encoder_checkpoint)."
)
ENCODER_FILE = "encoder"  # <run>/checkpoints/encoder.ckpt


class PretrainCLI(LightningCLI):
    """Links the DataModule's vocabulary into the language model and keeps its final weights as ``encoder.ckpt``."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.set_defaults(
            {
                "data": {"class_path": DEFAULT_DATAMODULE, "init_args": {}},
                "trainer.max_epochs": 5,
                "trainer.gradient_clip_val": 1.0,
                "trainer.logger": {
                    "class_path": TENSORBOARD_LOGGER,
                    "init_args": {"save_dir": "lightning_logs", "name": "pretrain", "default_hp_metric": False},
                },
                "trainer.enable_model_summary": False,
            }
        )
        parser.link_arguments("data.vocab_size", "model.vocab_size", apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.filename": ENCODER_FILE, "checkpoint.enable_version_counter": False})
        parser.add_lightning_class_args(EpochTimer, "epoch_timer")
        parser.add_lightning_class_args(EpochLog, "epoch_log")

    def before_instantiate_classes(self) -> None:
        place_loggers(self.config.fit)  # under trainer.default_root_dir, as the classifier's
        trainer = self.config.fit.trainer
        require_visible_accelerator(trainer.get("accelerator"))
        require_valid_devices(trainer.get("accelerator"), trainer.get("devices"))
        require_supported_precision(trainer.get("accelerator"), trainer.get("precision"))
        if trainer.get("enable_progress_bar") is None:
            trainer.enable_progress_bar = sys.stderr.isatty()
        if trainer.get("plugins") is None:
            trainer.plugins = [class_config(AtomicCheckpointIO)]
        trainer.callbacks = with_callbacks(trainer.get("callbacks"), [EpochProgressBar] * trainer.enable_progress_bar)

    def before_fit(self) -> None:
        if self.trainer.is_global_zero:
            directory = run_directory(self.trainer)
            refuse_to_overwrite(directory, self.config_init.fit.ckpt_path)
            ensure_writable(directory)

    def after_fit(self) -> None:
        path = self.trainer.checkpoint_callback.best_model_path if self.trainer.checkpoint_callback else ""
        rank_zero_info(f"Pretrained encoder: {path} (fit a classifier from it with --model.encoder_checkpoint)")


@report_user_errors
def main(args: list[str] | None = None) -> Any:
    """Pretrain; returns the path of the encoder checkpoint. Bad settings exit with one line (status 2)."""
    argv = list(sys.argv[1:] if args is None else args)
    with expected_library_warnings(), naming_data_dir_flag("--data.data_dir"):  # no short flags here
        cli = build_cli(PretrainCLI, "fit", argv, None, model_class=LanguageModel, description=DESCRIPTION)
    return cli.trainer.checkpoint_callback.best_model_path
