"""A per-topic classification report and confusion matrix, computed by torchmetrics.

One :class:`ReportMetrics` collection is updated batch by batch (and synced across DDP ranks by
torchmetrics), then turned into a :class:`ClassificationReport` that renders as Markdown and JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
    MulticlassStatScores,
    MultilabelExactMatch,
    MultilabelF1Score,
    MultilabelPrecision,
    MultilabelRecall,
    MultilabelStatScores,
)

# Above MATRIX_LIMIT classes a figure of every label would be unreadable and, at thousands of labels, take gigabytes:
# the confusion matrix shows the MATRIX_SHOWN most-confused labels, the F1 chart the MATRIX_SHOWN most frequent ones,
# and the report's JSON keeps the matrix's non-zero cells only.
MATRIX_LIMIT = 60
MATRIX_SHOWN = 40


@dataclass(frozen=True)
class ClassScores:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class SplitOverlap:
    """How many texts of a split (``val`` or ``test``) also occur in the training rows: a test text seen in training
    is scored as if the model generalised to it."""

    split: str
    shared: int
    total: int

    def line(self) -> str:
        return f"train/{self.split} overlap: {self.shared:,} of {self.total:,} {self.split} texts also in training."


@dataclass(frozen=True)
class ClassificationReport:
    """Per-class scores, their macro and support-weighted averages, accuracy, and the confusion matrix.

    ``confusion[i][j]`` counts items of true class ``i`` predicted as ``j``.
    """

    classes: tuple[ClassScores, ...]
    macro: ClassScores
    weighted: ClassScores
    accuracy: float  # multi-label: subset accuracy (every label of the item right)
    confusion: tuple[tuple[int, ...], ...]  # multi-label: empty (an item has no single true class)
    micro: ClassScores | None = None  # multi-label: scores over every (item, label) decision
    multi_label: bool = False
    overlap: tuple[SplitOverlap, ...] = ()  # measured by the DataModule when it read the training file

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(row.name for row in self.classes)

    def normalized_confusion(self) -> Tensor:
        """Each row divided by its true-class count (recall on the diagonal); rows without items stay 0."""
        counts = torch.tensor(self.confusion, dtype=torch.float64)
        return counts / counts.sum(dim=1, keepdim=True).clamp(min=1)

    def matrix_classes(self, limit: int = MATRIX_LIMIT, shown: int = MATRIX_SHOWN) -> tuple[int, ...]:
        """The class indices a confusion-matrix figure shows, most test items first (then by name): every class up
        to ``limit``; above it the ``shown`` with the most off-diagonal items (their items predicted as another
        class, and other classes' items predicted as them)."""
        order = range(len(self.classes))
        if len(self.classes) > limit:
            mass = self.off_diagonal_mass()
            order = sorted(order, key=lambda i: (-mass[i], -self.classes[i].support, self.classes[i].name))[:shown]
        return tuple(sorted(order, key=lambda i: (-self.classes[i].support, self.classes[i].name)))

    def off_diagonal_mass(self) -> np.ndarray:
        """Per class, the test items confused with another class either way (one row at a time: no dense copy)."""
        count = len(self.confusion)
        rows = np.zeros(count, dtype=np.int64)
        columns = np.zeros(count, dtype=np.int64)
        for index, row in enumerate(self.confusion):
            values = np.fromiter(row, dtype=np.int64, count=count)
            rows[index] = values.sum() - values[index]
            values[index] = 0
            columns += values
        return rows + columns

    @property
    def bounded(self) -> bool:
        """Whether the figures show a part of the labels (more than ``MATRIX_LIMIT``)."""
        return len(self.classes) > MATRIX_LIMIT

    def to_dict(self) -> dict:
        """Every field; above ``MATRIX_LIMIT`` classes the confusion matrix as its non-zero cells
        (``confusion_cells``: ``[true, predicted, count]``), not a dense table of mostly zeros."""
        data = {field.name: getattr(self, field.name) for field in fields(self)}  # asdict deep-copies the matrix
        data |= {"classes": [asdict(row) for row in self.classes], "macro": asdict(self.macro)}
        data |= {"weighted": asdict(self.weighted), "micro": asdict(self.micro) if self.micro else None}
        data["overlap"] = [asdict(overlap) for overlap in self.overlap]
        if self.bounded and self.confusion:
            data["confusion"] = None
            data["confusion_cells"] = [
                [true, predicted, count]
                for true, row in enumerate(self.confusion)
                for predicted, count in enumerate(row)
                if count
            ]
        return data

    def to_markdown(self) -> str:
        total = sum(row.support for row in self.classes)
        if self.multi_label:
            first = f"Subset accuracy {self.accuracy:.4f}, micro F1 {self.micro.f1:.4f}, macro F1 {self.macro.f1:.4f}"
            first += f" ({total:,} labels on the items; support counts items with the label)."
        else:
            first = f"Accuracy {self.accuracy:.4f} on {total:,} items."
        lines = [first, *(overlap.line() for overlap in self.overlap), ""]
        if self.bounded:
            shown = f"the {MATRIX_SHOWN} most-confused of the {len(self.classes):,} labels" if self.confusion else ""
            lines += [
                f"The figures show part of the {len(self.classes):,} labels: "
                + (f"confusion_matrix.png {shown}, " if shown else "")
                + f"per_class_f1.png the {MATRIX_SHOWN} with the most test items. The table below has every label"
                + (" and the JSON file every non-zero confusion cell." if shown else "."),
                "",
            ]
        lines += ["| label | precision | recall | F1 | support |", "| --- | ---: | ---: | ---: | ---: |"]
        for row in (*self.classes, *([self.micro] if self.micro else []), self.macro, self.weighted):
            lines.append(f"| {row.name} | {row.precision:.3f} | {row.recall:.3f} | {row.f1:.3f} | {row.support:,} |")
        return "\n".join(lines) + "\n"

    def write(self, directory: str | Path, stem: str = "test_report") -> tuple[Path, Path]:
        """``<stem>.md`` and ``<stem>.json`` in ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        markdown, data = directory / f"{stem}.md", directory / f"{stem}.json"
        markdown.write_text(self.to_markdown())
        data.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return markdown, data


class ReportMetrics(MetricCollection):
    """The torchmetrics behind a :class:`ClassificationReport`; ``update(logits_or_preds, target)``."""

    def __init__(self, names: Sequence[str]) -> None:
        classes = len(names)
        super().__init__(
            {
                "stats": MulticlassStatScores(classes, average=None),  # per class: tp, fp, tn, fn, support
                "confusion": MulticlassConfusionMatrix(classes),
                "accuracy": MulticlassAccuracy(classes, average="micro"),
                **{
                    f"{metric}_{average}": cls(classes, average=average)
                    for metric, cls in (
                        ("precision", MulticlassPrecision),
                        ("recall", MulticlassRecall),
                        ("f1", MulticlassF1Score),
                    )
                    for average in ("none", "macro", "weighted")
                },
            },
            compute_groups=False,  # the averages differ only in compute(); grouping them saves nothing here
        )
        self.names = tuple(names)

    def report(self) -> ClassificationReport:
        values = {key: value.cpu() for key, value in self.compute().items()}
        support = values["stats"][:, 4].long()
        total = int(support.sum())

        def summary(name: str, average: str, count: int) -> ClassScores:
            scores = [float(values[f"{metric}_{average}"]) for metric in ("precision", "recall", "f1")]
            return ClassScores(name, *scores, count)

        rows = tuple(
            ClassScores(
                name,
                float(values["precision_none"][index]),
                float(values["recall_none"][index]),
                float(values["f1_none"][index]),
                int(support[index]),
            )
            for index, name in enumerate(self.names)
        )
        return ClassificationReport(
            classes=rows,
            macro=summary("macro avg", "macro", total),
            weighted=summary("weighted avg", "weighted", total),
            accuracy=float(values["accuracy"]),
            confusion=tuple(tuple(int(count) for count in row) for row in values["confusion"].long().tolist()),
        )


class MultilabelReportMetrics(MetricCollection):
    """Per-label precision, recall, F1 and support, their micro/macro/weighted averages and subset accuracy;
    ``update(decisions, target)`` with 0/1 decisions (the thresholds are applied before)."""

    def __init__(self, names: Sequence[str]) -> None:
        labels = len(names)
        super().__init__(
            {
                "stats": MultilabelStatScores(labels, average=None),
                "accuracy": MultilabelExactMatch(labels),
                **{
                    f"{metric}_{average}": cls(labels, average=average)
                    for metric, cls in (
                        ("precision", MultilabelPrecision),
                        ("recall", MultilabelRecall),
                        ("f1", MultilabelF1Score),
                    )
                    for average in ("none", "micro", "macro", "weighted")
                },
            },
            compute_groups=False,
        )
        self.names = tuple(names)

    def report(self) -> ClassificationReport:
        values = {key: value.cpu() for key, value in self.compute().items()}
        support = values["stats"][:, 4].long()
        total = int(support.sum())

        def summary(name: str, average: str) -> ClassScores:
            scores = [float(values[f"{metric}_{average}"]) for metric in ("precision", "recall", "f1")]
            return ClassScores(name, *scores, total)

        rows = tuple(
            ClassScores(
                name,
                *(float(values[f"{metric}_none"][index]) for metric in ("precision", "recall", "f1")),
                int(support[index]),
            )
            for index, name in enumerate(self.names)
        )
        return ClassificationReport(
            classes=rows,
            macro=summary("macro avg", "macro"),
            weighted=summary("weighted avg", "weighted"),
            accuracy=float(values["accuracy"]),
            confusion=(),
            micro=summary("micro avg", "micro"),
            multi_label=True,
        )


def with_split_overlap(report: ClassificationReport, datamodule: Any) -> ClassificationReport:
    """``report`` with the train/val and train/test overlap that ``datamodule.split_overlap()`` measured, if any."""
    measure = getattr(datamodule, "split_overlap", None)
    counts = measure() if callable(measure) else {}
    overlap = tuple(SplitOverlap(split, shared, total) for split, (shared, total) in counts.items())
    return replace(report, overlap=overlap) if overlap else report


def classification_report(preds: Tensor, target: Tensor, names: Sequence[str]) -> ClassificationReport:
    """The report for one set of predictions: ``preds`` are logits ``(n, classes)`` or class ids ``(n,)``."""
    metrics = ReportMetrics(names)
    metrics.update(preds, target)
    return metrics.report()
