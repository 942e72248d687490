"""Figures of a run: confusion matrix, per-topic F1, training curves. Headless (Agg), returned as Figures.

The callers save them as PNG files and hand the same Figures to TensorBoard's ``add_figure``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on servers and in CI
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from lightning_seq.reporting.report import ClassificationReport

Curve = list[tuple[int, float]]  # (epoch, counted from 1, value)


def confusion_matrix_figure(report: ClassificationReport, title: str = "Confusion matrix") -> Figure:
    """Row-normalised (each true topic's row sums to 100 %), so that small topics are as visible as ``earn``.

    Cells of 10 % and more carry their percentage, on the same 0-100 % scale as the colour bar, in a font
    that stays legible when TensorBoard shrinks the image; the row labels carry each topic's test support.
    """
    percent = 100 * report.normalized_confusion().numpy()
    count = len(report.classes)
    size = max(7.0, 0.34 * count + 2.5)
    figure, axes = plt.subplots(figsize=(size + 1.2, size), layout="constrained")
    image = axes.imshow(percent, cmap="Blues", vmin=0.0, vmax=100.0)
    axes.set_xticks(range(count), report.names, rotation=90, fontsize=9)
    axes.set_yticks(range(count), [f"{row.name} ({row.support})" for row in report.classes], fontsize=9)
    axes.set_xlabel("predicted topic", fontsize=11)
    axes.set_ylabel("true topic (test items)", fontsize=11)
    axes.set_title(f"{title}: % of each true topic, accuracy {report.accuracy:.3f}", fontsize=12)
    for true, row in enumerate(percent):
        for predicted, share in enumerate(row):
            if share >= 10:
                colour = "white" if share > 60 else "black"
                axes.text(predicted, true, f"{share:.0f}", ha="center", va="center", fontsize=8, color=colour)
    figure.colorbar(image, ax=axes, fraction=0.04, label="% of the true topic's test items")
    return figure


def per_class_f1_figure(report: ClassificationReport, title: str = "Per-topic F1") -> Figure:
    """Topics sorted by F1, with their test support, and the macro average as a line."""
    rows = sorted(report.classes, key=lambda row: row.f1, reverse=True)
    figure, axes = plt.subplots(figsize=(max(8.0, 0.25 * len(rows) + 2), 4.5), layout="constrained")
    axes.bar(range(len(rows)), [row.f1 for row in rows], color="tab:blue")
    axes.axhline(report.macro.f1, color="tab:red", linestyle="--", label=f"macro F1 {report.macro.f1:.3f}")
    axes.set_xticks(range(len(rows)), [f"{row.name} ({row.support})" for row in rows], rotation=90, fontsize=7)
    axes.set_ylim(0, 1)
    axes.set_ylabel("F1")
    axes.set_title(f"{title} (test support in brackets)")
    axes.legend(loc="upper right")
    return figure


def training_curves_figure(curves: Mapping[str, Curve], title: str = "Training curves") -> Figure:
    """Losses on the left, accuracies on the right; ``curves`` maps a logged tag to its per-epoch values."""
    figure, (losses, accuracies) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for axes, kind in ((losses, "loss"), (accuracies, "acc")):
        for tag, points in curves.items():
            if tag.split("/")[-1].startswith(kind) and points:
                epochs, values = zip(*points, strict=True)
                axes.plot(epochs, values, marker="o", label=tag.removesuffix("_epoch"))
        axes.set_xlabel("epoch")
        axes.set_ylabel("accuracy" if kind == "acc" else "cross-entropy")
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend()
    figure.suptitle(title)
    return figure


def save_figure(figure: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Write ``figure`` as a PNG and free it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path
