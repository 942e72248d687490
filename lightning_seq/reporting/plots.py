"""Figures of a run: confusion matrix, per-topic F1, training curves. Headless (Agg), returned as Figures.

The callers save them as PNG files and hand the same Figures to TensorBoard's ``add_figure``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # before pyplot: no display on servers and in CI
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from lightning_seq.reporting.report import MATRIX_SHOWN, ClassificationReport

Curve = list[tuple[int, float]]  # (epoch, counted from 1, value)


def confusion_matrix_figure(report: ClassificationReport, title: str = "Confusion matrix") -> Figure:
    """Row-normalised (each true label's row is a % of its test items), so that small labels are as visible as
    ``earn``; labels with the most test items first.

    Above ``MATRIX_LIMIT`` labels it shows the ``MATRIX_SHOWN`` most-confused ones and says so in the title (a
    matrix of every label is unreadable, and at 10,000 labels would take gigabytes); their rows keep their
    percentages of all the label's items. Cells of 10 % and more carry their percentage, on the same 0-100 % scale
    as the colour bar; the row labels carry each label's test support.
    """
    indices = report.matrix_classes()
    count = len(indices)
    percent = np.zeros((count, count))
    for row, true in enumerate(indices):
        counts = report.confusion[true]
        percent[row] = [100 * counts[predicted] / max(sum(counts), 1) for predicted in indices]
    names = [report.classes[index].name for index in indices]
    size = max(7.0, 0.3 * count + 3.0)
    figure, axes = plt.subplots(figsize=(size + 1.2, size), layout="constrained")
    image = axes.imshow(percent, cmap="Blues", vmin=0.0, vmax=100.0)
    axes.set_xticks(range(count), names, rotation=90, fontsize=11)
    rows = [f"{report.classes[index].name} ({report.classes[index].support})" for index in indices]
    axes.set_yticks(range(count), rows, fontsize=11)
    axes.set_xlabel("predicted label", fontsize=13)
    axes.set_ylabel("true label (test items)", fontsize=13)
    shown = f", the {count} most-confused of {len(report.classes):,} labels" if count < len(report.classes) else ""
    axes.set_title(f"{title}: % of each true label{shown}, accuracy {report.accuracy:.3f}", fontsize=14)
    for true, row in enumerate(percent):
        for predicted, share in enumerate(row):
            if share >= 10:
                colour = "white" if share > 60 else "black"
                axes.text(predicted, true, f"{share:.0f}", ha="center", va="center", fontsize=10, color=colour)
    figure.colorbar(image, ax=axes, fraction=0.04, label="% of the true label's test items")
    return figure


def per_class_f1_figure(report: ClassificationReport, title: str = "Per-topic F1") -> Figure:
    """Labels sorted by F1, with their test support, and the macro average as a line.

    A label without test items has no F1 (torchmetrics counts it 0): it gets a grey hatched bar of its own, after
    the others, and a legend entry, so that it does not read as a label the model always misses. Above
    ``MATRIX_LIMIT`` labels the chart shows the ``MATRIX_SHOWN`` with the most test items, and says so.
    """
    rows = list(report.classes)
    if report.bounded:
        rows = sorted(rows, key=lambda row: (-row.support, row.name))[:MATRIX_SHOWN]
    rows.sort(key=lambda row: (row.support == 0, -row.f1, row.name))
    present = [index for index, row in enumerate(rows) if row.support]
    missing = [index for index, row in enumerate(rows) if not row.support]
    figure, axes = plt.subplots(figsize=(max(8.0, 0.3 * len(rows) + 2), 5.5), layout="constrained")
    axes.bar(present, [rows[index].f1 for index in present], color="tab:blue")
    if missing:
        axes.bar(missing, [1.0] * len(missing), color="0.9", edgecolor="0.5", hatch="//", label="no test items: no F1")
    axes.axhline(report.macro.f1, color="tab:red", linestyle="--", label=f"macro F1 {report.macro.f1:.3f}")
    axes.set_xticks(range(len(rows)), [f"{row.name} ({row.support})" for row in rows], rotation=90, fontsize=10)
    axes.set_ylim(0, 1)
    axes.set_ylabel("F1", fontsize=12)
    shown = f", the {len(rows)} of {len(report.classes):,} labels with the most test items" if report.bounded else ""
    axes.set_title(f"{title} (test support in brackets{shown})", fontsize=13)
    axes.legend(loc="upper right")
    return figure


def training_curves_figure(
    curves: Mapping[str, Curve], title: str = "Training curves", best_epoch: int | None = None
) -> Figure:
    """Losses on the left, accuracies on the right; ``curves`` maps a logged tag to its per-epoch values, and
    ``best_epoch`` (counted from 1), the checkpoint the run keeps as its best, gets a dotted line on both."""
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
        if best_epoch is not None:
            axes.axvline(best_epoch, color="0.3", linestyle=":", label=f"best checkpoint (epoch {best_epoch})")
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


def save_figures_or_warn(
    drawers: Mapping[str, Callable[[], Figure]],
    directory: Path,
    shown: Callable[[str, Figure], None] | None = None,
) -> list[Path]:
    """Draw and save each figure as ``<name>.png``; one that fails (e.g. out of memory) is a warning, not a lost run.

    Call it after the numbers are written: a figure never costs them. ``shown`` also hands each figure elsewhere
    (TensorBoard's Images) before it is saved and freed.
    """
    written = []
    for name, draw in drawers.items():
        try:
            figure = draw()
            if shown is not None:
                shown(name, figure)
            written.append(save_figure(figure, directory / f"{name}.png"))
        except Exception as error:
            plt.close("all")
            warnings.warn(
                f"{name}.png was not drawn ({type(error).__name__}: {str(error)[:200]}); the report and metrics are "
                "written",
                stacklevel=2,
            )
    return written
