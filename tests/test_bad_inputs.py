"""Bad input stops early with a message that names the value and the fix, and leaves no bad output behind.

The rest of the battery lives beside the code it guards: unknown cell, non-positive sizes and dropout
(test_model.py), missing / corrupted data and cache (test_files.py), token ids out of range (test_model.py),
unknown config keys (test_cli.py), empty or unknown text for predict (test_predict.py), unreadable
checkpoints (test_export.py).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from lightning_seq.cli.lightning_cli import fit_main
from lightning_seq.training.module import SequenceClassifier

from .conftest import CONFIGS

TINY = [
    "--config", str(CONFIGS / "gru.yaml"), "--hidden_size", "8", "--model.embedding_dim", "8",
    "--trainer.limit_train_batches", "6", "--trainer.limit_val_batches", "2", "--trainer.limit_test_batches", "2",
    "--trainer.enable_progress_bar", "false",
]  # fmt: skip
RUN = Path("lightning_logs") / "gru" / "version_0"


class PoisonAtStep(L.Callback):
    """Makes the loss NaN from a given optimizer step on, as a diverging run would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                pl_module.net.head.bias.fill_(math.nan)


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("lightning_seq.cli.lightning_cli.SeqCLI.instantiate_trainer", _with_callback(PoisonAtStep(9)))
    with pytest.raises(FloatingPointError) as error:
        fit_main([*TINY, "--max_epochs", "3", "--step_checkpoint.every_n_train_steps", "4"])
    message = str(error.value)
    assert "training loss is nan at global step 9 (epoch 1, batch 3)" in message
    assert (
        f"the last good checkpoint is {RUN / 'checkpoints' / 'last.ckpt'}" in message and "--ckpt_path last" in message
    )
    kept = torch.load(RUN / "checkpoints" / "last.ckpt", weights_only=True)
    assert kept["global_step"] == 8  # the step checkpoint before the bad step; nothing after it was written
    assert all(torch.isfinite(tensor).all() for tensor in kept["state_dict"].values())
    assert not (RUN / "test_metrics.json").exists()  # no test report of a broken run


def _with_callback(callback: L.Callback):
    original = __import__("lightning_seq.cli.lightning_cli", fromlist=["SeqCLI"]).SeqCLI.instantiate_trainer

    def instantiate(self, **kwargs: Any) -> L.Trainer:
        trainer = original(self, **kwargs)
        trainer.callbacks.append(callback)
        return trainer

    return instantiate


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (
            ["--data.num_words", "5000"],
            "trained with data.num_words=10000, but this run has data.num_words=5000: resuming would continue on other",
        ),
        (
            ["--cell", "lstm", "--num_layers", "2"],
            "trained with cell='gru', num_layers=1, but this model has cell='lstm', num_layers=2",
        ),
    ],
    ids=["vocabulary", "architecture"],
)
def test_resuming_a_checkpoint_of_another_model_is_refused_by_name(
    gru_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: list[str], complaint: str
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["--config", str(CONFIGS / "gru.yaml"), "--hidden_size", "16", "--model.embedding_dim", "16"]
    with pytest.raises(ValueError) as error:
        fit_main([*args, *change, "--ckpt_path", str(gru_checkpoint), "--trainer.enable_progress_bar", "false"])
    assert complaint in str(error.value) and "config.yaml" in str(error.value)


def test_loading_into_a_different_model_is_refused(gru_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match=r"net.encoder.rnn.weight_ih_l0 has shape \(48, 16\), this model's \(96, 16\)"):
        SequenceClassifier.load_from_checkpoint(gru_checkpoint, hidden_size=32, weights_only=True)


def test_unwritable_log_directory_fails_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the logs should go")
    with pytest.raises(
        OSError, match=r"cannot write the run's logs and checkpoints to .*not-a-directory/gru/version_0"
    ):
        fit_main([*TINY, "--trainer.logger.init_args.save_dir", str(blocker)])
    assert blocker.read_text() == "a file where the logs should go"
    assert not (tmp_path / "lightning_logs").exists()


def test_ckpt_path_last_without_a_run_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no lightning_logs/gru/\*/checkpoints/last.ckpt to resume from"):
        fit_main([*TINY, "--ckpt_path", "last"])
