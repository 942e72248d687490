"""Multi-label decisions: the probability above which a label is predicted, chosen on validation.

:class:`ThresholdSweep` counts, for every threshold of a fixed grid and every label, the true positives, false
positives and false negatives (and the rows predicted exactly), as torchmetrics states: constant memory, summed
across DDP ranks. From them it picks one global threshold (best micro-F1) and, per label, the threshold with that
label's best F1; ties go to the value nearest 0.5.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

GRID = tuple(round(0.05 * step, 2) for step in range(1, 20))  # 0.05, 0.10, ..., 0.95


class ThresholdSweep(Metric):
    full_state_update = False

    def __init__(self, num_labels: int, grid: tuple[float, ...] = GRID, at_least_one: bool = True) -> None:
        super().__init__()
        self.grid, self.at_least_one = grid, at_least_one
        for name in ("tp", "fp", "fn"):
            self.add_state(name, torch.zeros(len(grid), num_labels, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("exact", torch.zeros(len(grid), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("rows", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, probabilities: Tensor, target: Tensor) -> None:
        grid = torch.tensor(self.grid, device=probabilities.device, dtype=probabilities.dtype)
        predicted = decide(
            probabilities.unsqueeze(0), grid.view(-1, 1, 1), self.at_least_one
        )  # (thresholds, rows, labels)
        truth = target.bool().unsqueeze(0)
        self.tp += (predicted & truth).sum(dim=1)
        self.fp += (predicted & ~truth).sum(dim=1)
        self.fn += (~predicted & truth).sum(dim=1)
        self.exact += (predicted == truth).all(dim=-1).sum(dim=1)
        self.rows += probabilities.shape[0]

    def compute(self) -> dict[str, Tensor]:
        """``threshold`` (the global one), ``per_label`` (each label's own best; labels without positives keep the
        global one), and at the global one ``f1_micro``, ``f1_macro`` and ``subset_accuracy``."""
        tp, fp, fn = (state.double() for state in (self.tp, self.fp, self.fn))
        grid = torch.tensor(self.grid, dtype=torch.double, device=tp.device)
        nearness = -(grid - 0.5).abs() * 1e-9  # breaks ties towards 0.5 without outweighing any real difference
        micro = _f1(tp.sum(dim=1), fp.sum(dim=1), fn.sum(dim=1))
        per_label = _f1(tp, fp, fn)  # (thresholds, labels)
        best = int(torch.argmax(micro + nearness))
        label_best = torch.argmax(per_label + nearness.unsqueeze(1), dim=0)
        has_positives = (tp + fn)[0] > 0
        per_label_thresholds = torch.where(has_positives, grid[label_best], grid[best]).float()
        return {
            "threshold": grid[best].float(),
            "per_label": per_label_thresholds,
            "f1_micro": micro[best].float(),
            "f1_macro": per_label[best].mean().float(),
            "subset_accuracy": (self.exact[best].double() / self.rows.clamp(min=1)).float(),
        }


def _f1(tp: Tensor, fp: Tensor, fn: Tensor) -> Tensor:
    """F1 with 0 where there is nothing to score (torchmetrics' zero_division=0)."""
    denominator = 2 * tp + fp + fn
    return torch.where(denominator > 0, 2 * tp / denominator.clamp(min=1), torch.zeros_like(tp))


def decide(probabilities: Tensor, thresholds: Tensor, at_least_one: bool = True) -> Tensor:
    """Which labels are predicted: those at or above their threshold; with ``at_least_one``, a row where none is
    gets its most probable label (every training row has a label, so an empty answer is always wrong)."""
    predicted = probabilities >= thresholds
    if at_least_one:
        top = torch.zeros_like(probabilities, dtype=torch.bool)
        top.scatter_(-1, probabilities.argmax(dim=-1, keepdim=True), True)
        predicted = predicted | (top & ~predicted.any(dim=-1, keepdim=True))
    return predicted
