"""Tests read what a run logged to TensorBoard straight from its event files, per epoch (the package does not)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

Curve = list[tuple[int, float]]  # (epoch, counted from 1, value)


def epoch_curves(log_dir: str | Path, tags: Sequence[str]) -> dict[str, Curve]:
    """``tag -> [(epoch, value), ...]`` for each of ``tags`` the run logged (absent tags are left out).

    Lightning logs ``epoch`` (from 0) beside every metric at the same step, which maps steps to epochs.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    logged = set(events.Tags()["scalars"])
    epoch_at = {event.step: int(event.value) for event in events.Scalars("epoch")} if "epoch" in logged else {}
    curves = {}
    for tag in tags:
        if tag not in logged:
            continue
        points = sorted(events.Scalars(tag), key=lambda event: event.step)
        curves[tag] = [(epoch_at.get(event.step, position) + 1, event.value) for position, event in enumerate(points)]
    return curves
