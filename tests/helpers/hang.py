"""A callback for tests: every DDP rank waits, at a given step, for a message no rank sends (a stuck collective)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch


class HangAtStep(L.Callback):
    """Writes ``hung-rank<N>`` into the working directory, then blocks inside gloo, where no Python code runs."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == self.step:
            rank, world = trainer.global_rank, trainer.world_size
            Path(f"hung-rank{rank}").touch()
            torch.distributed.recv(torch.zeros(1), src=(rank + 1) % world)
