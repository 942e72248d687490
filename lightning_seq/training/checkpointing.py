"""Checkpoint files that are either complete or absent, for the Trainer's ``plugins``.

Lightning's own writer stages a checkpoint in the system's temporary directory and then moves it into
place. When that directory lies on another file system than the logs (a tmpfs, a network or scratch
disk), the move is a copy, and a full disk stops it halfway: a truncated file keeps the final name,
and a later ``--ckpt_path last`` would pick it up. Here the file is written next to its destination
and renamed over it once flushed (:func:`lightning_seq.data.files.atomic_file`).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from lightning_seq.data.files import atomic_file
from lightning_seq.errors import NotWritable


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local files appear only once completely written; remote paths are Lightning's."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):  # s3://, gs://, ...
            return super().save_checkpoint(checkpoint, path, storage_options)
        buffer = io.BytesIO()  # serialised first: torch's writer reports a full disk as a bare RuntimeError
        torch.save(checkpoint, buffer)
        try:
            with atomic_file(Path(path)) as file:
                file.write(buffer.getbuffer())
        except OSError as error:
            raise NotWritable(
                f"could not write the checkpoint {path} ({error.strerror or error}); nothing was written under "
                "that name and the earlier checkpoints are intact. Free some space (or set another "
                "--trainer.logger.init_args.save_dir), then continue with --ckpt_path last"
            ) from error
        return None
