"""Knowledge distillation (Hinton et al. 2015): one model learns an ensemble's softened probabilities, so that
the ensemble's accuracy costs one model at predict time.

The teachers read every training item once, when the fit starts, and their softened probabilities are kept by the
item's token ids. A training batch then looks its rows up instead of running the teachers again: whatever the
sampler, bucketing or shuffling, a row's ids name it (token-identical wires get the same targets, as the teachers
would give them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lightning_seq.errors import BadCheckpoint


class TeacherTargets:
    """The teachers' mean probabilities at ``temperature`` for every row of a padded training set.

    Args:
        tokens: ``(items, time)`` token ids, each row's ids first and padding after.
        lengths: ``(items,)`` real tokens per row.
        targets: ``(items, classes)`` the teachers' softened mean probabilities, row by row.
    """

    def __init__(self, tokens: Tensor, lengths: Tensor, targets: Tensor) -> None:
        self.targets = targets
        pairs = zip(tokens, lengths.tolist(), strict=True)
        self.rows = {_key(row, length): index for index, (row, length) in enumerate(pairs)}

    @classmethod
    def from_teachers(
        cls,
        teachers: Sequence[nn.Module],
        tokens: Tensor,
        lengths: Tensor,
        temperature: float,
        batch_size: int = 256,
    ) -> TeacherTargets:
        """Run every teacher (``(tokens, lengths) -> logits``) over the rows once, in eval mode, on the CPU."""

        @torch.no_grad()
        def softened(teacher: nn.Module) -> Tensor:
            teacher.eval()
            batches = zip(tokens.split(batch_size), lengths.split(batch_size), strict=True)
            return torch.cat(
                [(teacher(ids[:, : int(kept.max())], kept) / temperature).softmax(-1) for ids, kept in batches]
            )

        return cls(tokens, lengths, torch.stack([softened(teacher) for teacher in teachers]).mean(dim=0))

    def lookup(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """The targets of a batch's rows, on the batch's device."""
        missing = []
        indices = []
        for row, length in zip(tokens.cpu(), lengths.tolist(), strict=True):
            index = self.rows.get(_key(row, length))
            if index is None:
                missing.append(row[:length].tolist()[:8])
            indices.append(index)
        if missing:
            raise KeyError(f"{len(missing)} batch rows are not training rows the teachers read, e.g. {missing[0]}")
        return self.targets[indices].to(tokens.device)


def distillation_loss(logits: Tensor, soft_targets: Tensor, temperature: float) -> Tensor:
    """``T^2 * KL(teachers || student)`` at temperature ``T``: the ``T^2`` keeps its gradients on the scale of the
    hard-label loss as ``T`` changes (Hinton et al. 2015)."""
    log_student = F.log_softmax(logits / temperature, dim=-1)
    return F.kl_div(log_student, soft_targets, reduction="batchmean") * temperature**2


def load_teachers(
    paths: Sequence[str | Path], load: Callable[[str], nn.Module], vocab_size: int, num_classes: int
) -> list[nn.Module]:
    """The teacher networks; one line naming a checkpoint whose vocabulary or classes are not the student's."""
    teachers = []
    for path in paths:
        model = load(str(path))
        hp = model.hparams
        if (hp.vocab_size, hp.num_classes) != (vocab_size, num_classes):
            raise BadCheckpoint(
                f"teacher {path} has vocab_size {hp.vocab_size} and {hp.num_classes} classes, the student "
                f"{vocab_size} and {num_classes}: a teacher must read the student's token ids and name its labels; "
                "train it with the same data settings"
            )
        teachers.append(model.net)
    return teachers


def _key(row: Tensor, length: int) -> bytes:
    return row[:length].numpy().tobytes()
