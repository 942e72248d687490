"""SequenceClassifier: steps, metrics, optimizer injection, checkpoints, a real fast_dev_run."""

from __future__ import annotations

import functools
from pathlib import Path

import lightning as L
import pytest
import torch

from lightning_seq.data.batching import Batch
from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.training.module import SequenceClassifier


def tiny(**kwargs) -> SequenceClassifier:
    return SequenceClassifier(vocab_size=10000, num_classes=46, embedding_dim=8, hidden_size=8, **kwargs)


def fast_trainer(tmp_path: Path, **kwargs) -> L.Trainer:
    defaults = {"accelerator": "cpu", "logger": False, "enable_progress_bar": False, "enable_model_summary": False}
    return L.Trainer(default_root_dir=tmp_path, **(defaults | kwargs))


def test_optimizer_comes_from_the_argument() -> None:
    model = tiny(optimizer=functools.partial(torch.optim.SGD, lr=0.5, momentum=0.9))
    optimizer = model.configure_optimizers()
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.param_groups[0]["lr"] == 0.5
    assert isinstance(tiny().configure_optimizers(), torch.optim.Adam)  # the default


def test_accuracy_is_plain_accuracy_not_class_averaged() -> None:
    """torchmetrics' MulticlassAccuracy defaults to macro averaging; the module asks for micro."""
    model = tiny()
    logits = torch.full((4, 46), -10.0)
    logits[[0, 1, 2, 3], [3, 3, 3, 5]] = 10.0  # predicts 3, 3, 3, 5
    model.test_metrics(logits, torch.tensor([3, 3, 3, 4]))
    computed = model.test_metrics.compute()
    assert computed["test/acc"] == pytest.approx(0.75)


def test_fast_dev_run_on_real_data_logs_every_metric(datamodule: ReutersDataModule, tmp_path: Path) -> None:
    model = tiny(cell="lstm", bidirectional=True)
    trainer = fast_trainer(tmp_path, fast_dev_run=3)
    trainer.fit(model, datamodule=datamodule)
    logged = set(trainer.logged_metrics)
    assert {"train/loss_step", "val/loss", "val/acc", "val/f1_macro"} <= logged
    trainer.test(model, datamodule=datamodule)
    metrics = trainer.callback_metrics
    assert {"test/loss", "test/acc", "test/f1_macro"} <= set(metrics)
    assert 0.0 <= float(metrics["test/acc"]) <= 1.0 and torch.isfinite(metrics["test/loss"])


def test_training_memorises_a_small_batch(datamodule: ReutersDataModule) -> None:
    torch.manual_seed(0)
    model = tiny(cell="gru", optimizer=functools.partial(torch.optim.Adam, lr=0.02))
    batch = datamodule.datasets["train"].__getitems__(list(range(16)))
    optimizer = model.configure_optimizers()
    losses = []
    for _ in range(100):
        loss = torch.nn.functional.cross_entropy(model(batch.tokens, batch.lengths), batch.labels)
        optimizer.zero_grad(), loss.backward(), optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


def test_checkpoint_round_trip_restores_the_same_model(datamodule: ReutersDataModule, tmp_path: Path) -> None:
    model = tiny(cell="rnn", num_layers=2, dropout=0.2)
    trainer = fast_trainer(tmp_path, max_steps=2, limit_val_batches=1)
    trainer.fit(model, datamodule=datamodule)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    torch.load(path, weights_only=True)  # nothing in it needs trusted unpickling
    restored = SequenceClassifier.load_from_checkpoint(path)
    assert restored.hparams.cell == "rnn" and restored.hparams.num_layers == 2
    batch: Batch = next(iter(datamodule.test_dataloader()))
    model.eval(), restored.eval()
    with torch.no_grad():
        torch.testing.assert_close(restored(batch.tokens, batch.lengths), model(batch.tokens, batch.lengths))


def test_label_smoothing_applies_to_the_training_loss_only(datamodule: ReutersDataModule) -> None:
    torch.manual_seed(0)
    plain, smoothed = tiny(), tiny(label_smoothing=0.2)
    smoothed.load_state_dict(plain.state_dict())
    batch = next(iter(datamodule.val_dataloader()))
    for stage in ("train", "val"):
        losses = [model._evaluate(batch, stage)[0] for model in (plain, smoothed)]
        assert bool(losses[0] != losses[1]) is (stage == "train")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
        tiny(label_smoothing=1.0)


def test_one_cycle_scheduler_gets_the_runs_length(datamodule: ReutersDataModule, tmp_path: Path) -> None:
    schedule = functools.partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.01, total_steps=None)
    model = tiny(cell="gru", scheduler=schedule)
    trainer = fast_trainer(tmp_path, max_epochs=2, limit_train_batches=3, limit_val_batches=1)
    trainer.fit(model, datamodule=datamodule)
    scheduler = trainer.lr_scheduler_configs[0]
    assert scheduler.interval == "step" and scheduler.scheduler.total_steps == 6 == trainer.global_step
    torch.load(trainer.checkpoint_callback.best_model_path, weights_only=True)  # still nothing pickled


@pytest.mark.parametrize("precision", ["bf16-mixed", "32-true"])
def test_fused_adamw_clips_gradients_in_every_precision(
    precision: str, datamodule: ReutersDataModule, tmp_path: Path
) -> None:
    """Lightning refuses to clip for a fused optimizer under mixed precision; bf16 has no scale to undo, so the
    module clips itself, and the optimizer steps with the configured gradient norm."""
    norms = []

    class RecordingAdamW(torch.optim.AdamW):
        def step(self, closure=None):  # Lightning's closure runs backward and the clipping
            with torch.enable_grad():
                closure()
            grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
            norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
            return super().step()

    model = tiny(cell="gru", ngram_order=2, ngram_buckets=101, optimizer=functools.partial(RecordingAdamW, fused=True))
    trainer = fast_trainer(tmp_path, precision=precision, gradient_clip_val=1e-3, max_steps=2, limit_val_batches=0)
    trainer.fit(model, datamodule=datamodule)
    assert trainer.global_step == 2 and norms == pytest.approx([1e-3, 1e-3], rel=1e-3)
