"""Test an ensemble: every member and their averaged probabilities on the same test items, side by side.

``lightning-seq test --ckpt A --ckpt B ...`` (and ``scripts/test.py``) land here. The members are read once each
over the test split of their shared data settings; the ensemble's scores come from the same probabilities, so the
table compares like with like. The ensemble gets the full per-label report and figures a single test writes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from lightning_seq.errors import NotWritable
from lightning_seq.inference.loading import ensemble_encoding, load_datamodule, load_model, setup_checkpoint_data
from lightning_seq.nn.ensemble import EnsembleClassifier
from lightning_seq.reporting.plots import confusion_matrix_figure, per_class_f1_figure, save_figures_or_warn
from lightning_seq.reporting.report import ClassificationReport, classification_report


@dataclass(frozen=True)
class MemberScores:
    name: str  # the checkpoint, or "ensemble"
    accuracy: float
    f1_macro: float


@dataclass(frozen=True)
class EnsembleReport:
    members: tuple[MemberScores, ...]
    ensemble: MemberScores
    report: ClassificationReport  # the ensemble's, per label

    def to_markdown(self) -> str:
        lines = [
            f"Test of an ensemble of {len(self.members)} checkpoints (mean of their probabilities), "
            f"{sum(row.support for row in self.report.classes):,} items.",
            "",
            "| model | accuracy | macro-F1 |",
            "| --- | ---: | ---: |",
        ]
        for row in (*self.members, self.ensemble):
            lines.append(f"| {row.name} | {row.accuracy:.4f} | {row.f1_macro:.4f} |")
        return "\n".join(lines) + "\n"

    def metrics(self) -> dict[str, float]:
        return {"test/acc": self.ensemble.accuracy, "test/f1_macro": self.ensemble.f1_macro}


@torch.no_grad()
def evaluate_ensemble(
    checkpoints: Sequence[str | Path],
    out: str | Path,
    data_dir: str | None = None,
    batch_size: int = 256,
    test_file: str | None = None,
) -> tuple[EnsembleReport, list[Path]]:
    """Test every member and the ensemble on the members' shared test split (a text-files run's ``test_file``
    instead, if given); write the reports to ``out``."""
    ensemble_encoding(checkpoints, data_dir)  # one line naming a member that reads text differently
    members = [load_model(path) for path in checkpoints]
    datamodule = load_datamodule(checkpoints[0], data_dir=data_dir, batch_size=batch_size, test_file=test_file)
    setup_checkpoint_data(datamodule, checkpoints[0], "test", named=("test_file",) if test_file else ())
    logits: list[list[torch.Tensor]] = [[] for _ in members]
    labels = []
    for batch in datamodule.test_dataloader():
        for member, rows in zip(members, logits, strict=True):
            rows.append(member(batch.tokens, batch.lengths).log_softmax(dim=-1))
        labels.append(batch.labels)
    target = torch.cat(labels)
    member_logits = [torch.cat(rows) for rows in logits]
    names = list(datamodule.label_names)
    scores = tuple(_scores(str(path), classification_report(rows, target, names)) for path, rows in zip(
        checkpoints, member_logits, strict=True
    ))  # fmt: skip
    combined = EnsembleClassifier.average(member_logits)
    report = classification_report(combined, target, names)
    result = EnsembleReport(scores, _scores("ensemble", report), report)
    directory = Path(out)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or error
        raise NotWritable(f"cannot write to {directory} ({reason}); give --out a writable place") from None
    written = [*report.write(directory)]
    summary = directory / "ensemble_report.md"
    summary.write_text(result.to_markdown())
    metrics = directory / "test_metrics.json"
    metrics.write_text(json.dumps({**result.metrics(), "members": [asdict(row) for row in scores]}, indent=2) + "\n")
    title = f"Ensemble of {len(members)}"
    drawers = {
        "per_class_f1": lambda: per_class_f1_figure(report, f"{title} test per-label F1"),
        "confusion_matrix": lambda: confusion_matrix_figure(report, f"{title} test"),
    }
    written += save_figures_or_warn(drawers, directory)
    return result, [summary, metrics, *written]


def _scores(name: str, report: ClassificationReport) -> MemberScores:
    return MemberScores(name, report.accuracy, report.macro.f1)
