"""How a sequence of recurrent outputs becomes one vector for the classifier head; padding never counts."""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor, nn

Pooling = Literal["last", "mean", "max", "attention"]
POOLINGS: tuple[str, ...] = get_args(Pooling)


class SequencePooling(nn.Module):
    """``last``: the final states (the seed's choice); ``mean`` / ``max`` over the real steps;
    ``attention``: a learned weighted mean (additive attention with one learned query).

    Args:
        mode: One of ``last``, ``mean``, ``max``, ``attention``.
        size: Feature width of the recurrent outputs.
    """

    def __init__(self, mode: Pooling, size: int) -> None:
        super().__init__()
        if mode not in POOLINGS:
            raise ValueError(f"unknown pooling {mode!r}: choose one of {', '.join(POOLINGS)}")
        self.mode = mode
        self.score = (
            nn.Sequential(nn.Linear(size, size), nn.Tanh(), nn.Linear(size, 1, bias=False))
            if mode == "attention"
            else None
        )

    @property
    def needs_steps(self) -> bool:
        return self.mode != "last"

    def forward(self, steps: Tensor | None, final: Tensor, lengths: Tensor) -> Tensor:
        """``steps`` ``(batch, time, features)`` valid where ``t < lengths``; ``final`` ``(batch, features)``."""
        if self.mode == "last":
            return final
        assert steps is not None
        real = torch.arange(steps.size(1), device=steps.device) < lengths.unsqueeze(1)  # (batch, time)
        if self.mode == "mean":
            return steps.masked_fill(~real.unsqueeze(2), 0.0).sum(1) / lengths.unsqueeze(1).to(steps.dtype)
        if self.mode == "max":
            return steps.masked_fill(~real.unsqueeze(2), float("-inf")).amax(1)
        scores = self.score(steps).squeeze(2).masked_fill(~real, float("-inf"))
        weights = scores.softmax(dim=1)
        return (weights.unsqueeze(2) * steps.masked_fill(~real.unsqueeze(2), 0.0)).sum(1)
