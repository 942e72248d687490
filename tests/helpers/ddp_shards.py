"""Run by tests/test_batching.py in a subprocess: 2-process DDP on CPU, recording what each rank trains on.

Usage: python tests/helpers/ddp_shards.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning as L
import torch

from lightning_seq.data.batching import BucketBatchSampler
from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.training.module import SequenceClassifier

SEEN: dict[int, list[list[int]]] = {}
_bucketed_batches = BucketBatchSampler.__iter__


def _recording_iter(self: BucketBatchSampler):
    """The training sampler's batches, by epoch (Lightning rebuilds the sampler per rank, same class)."""
    for batch in _bucketed_batches(self):
        if self.shuffle and self.order_seed is None:  # training (evaluation has a fixed order)
            SEEN.setdefault(getattr(self.sampler, "epoch", -1), []).append(batch)
        yield batch


class Report(L.Callback):
    def __init__(self, out: Path) -> None:
        self.out = out

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        report = {
            "world_size": trainer.world_size,
            "batches": {str(epoch): batches for epoch, batches in SEEN.items()},
            "val_acc": float(trainer.callback_metrics["val/acc"]),
            "val_loss": float(trainer.callback_metrics["val/loss"]),
            "sampler": type(trainer.train_dataloader.batch_sampler.sampler).__name__,
        }
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(report))


def main(out: Path) -> None:
    BucketBatchSampler.__iter__ = _recording_iter
    L.seed_everything(0)
    data = ReutersDataModule(num_words=10000, batch_size=64)
    model = SequenceClassifier(data.vocab_size, data.num_classes, cell="gru", embedding_dim=16, hidden_size=8)
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=2, limit_val_batches=4, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[Report(out)],
    )  # fmt: skip
    trainer.fit(model, datamodule=data)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()  # else gloo's threads can abort the interpreter at exit


if __name__ == "__main__":
    main(Path(sys.argv[1]))
