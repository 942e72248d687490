"""The per-topic report, its figures, TensorBoard images, training curves and scripts/test.py."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)

from lightning_seq.cli.lightning_cli import default_out, main
from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.data.reuters import TOPICS
from lightning_seq.reporting.plots import confusion_matrix_figure, per_class_f1_figure, save_figure
from lightning_seq.reporting.report import classification_report
from lightning_seq.training.callbacks import TestReport, TrainingCurves, read_epochs
from lightning_seq.training.module import SequenceClassifier

from .helpers.tensorboard_events import epoch_curves

NAMES = ("a", "b", "c", "d")  # d never occurs, neither as truth nor as prediction
TARGET = torch.tensor([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
PREDS = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 0, 0])
PNG = b"\x89PNG\r\n\x1a\n"


def test_report_numbers_equal_torchmetrics_and_hand_counts() -> None:
    report = classification_report(PREDS, TARGET, NAMES)
    classes = len(NAMES)
    for metric, function in (
        ("precision", multiclass_precision),
        ("recall", multiclass_recall),
        ("f1", multiclass_f1_score),
    ):
        per_class = function(PREDS, TARGET, classes, average=None)
        assert [getattr(row, metric) for row in report.classes] == pytest.approx(per_class.tolist())
        assert getattr(report.macro, metric) == pytest.approx(float(function(PREDS, TARGET, classes, average="macro")))
        weighted = float(function(PREDS, TARGET, classes, average="weighted"))
        assert getattr(report.weighted, metric) == pytest.approx(weighted)
    assert report.accuracy == pytest.approx(float(multiclass_accuracy(PREDS, TARGET, classes, average="micro")))
    assert report.confusion == tuple(map(tuple, multiclass_confusion_matrix(PREDS, TARGET, classes).tolist()))
    # By hand: a is predicted 5 times, 3 rightly, of 4 true a's; c twice, once rightly, of 3 true c's.
    a, _, c, d = report.classes
    assert (a.precision, a.recall, a.support) == (pytest.approx(3 / 5), 3 / 4, 4)
    assert a.f1 == pytest.approx(2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4))
    assert (c.precision, c.recall, c.support) == (0.5, pytest.approx(1 / 3), 3)
    assert (d.support, d.f1) == (0, 0.0)
    assert report.accuracy == pytest.approx(6 / 10) and report.macro.support == report.weighted.support == 10
    assert report.weighted.recall == pytest.approx(report.accuracy)  # support-weighted recall is accuracy


def test_logits_give_the_same_report_as_class_ids() -> None:
    logits = torch.nn.functional.one_hot(PREDS, len(NAMES)).float() * 3 - 1
    assert classification_report(logits, TARGET, NAMES) == classification_report(PREDS, TARGET, NAMES)


def test_report_files_and_normalised_confusion(tmp_path: Path) -> None:
    report = classification_report(PREDS, TARGET, NAMES)
    rows = report.normalized_confusion()
    assert rows.sum(dim=1).tolist() == pytest.approx([1.0, 1.0, 1.0, 0.0])  # d has no items: its row stays 0
    assert rows[0, 0] == pytest.approx(0.75)
    markdown, data = report.write(tmp_path)
    lines = markdown.read_text().splitlines()
    assert lines[2] == "| label | precision | recall | F1 | support |"
    assert lines[4] == "| a | 0.600 | 0.750 | 0.667 | 4 |" and lines[-2].startswith("| macro avg |")
    assert json.loads(data.read_text()) == json.loads(json.dumps(report.to_dict()))
    assert json.loads(data.read_text())["classes"][0] == {
        "name": "a",
        "precision": pytest.approx(0.6),
        "recall": 0.75,
        "f1": pytest.approx(2 / 3),
        "support": 4,
    }


def test_figures_for_all_46_topics_are_pngs(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, len(TOPICS), (500,), generator=generator)
    preds = torch.where(torch.rand(500, generator=generator) < 0.7, target, torch.randint(0, 46, (500,)))
    report = classification_report(preds, target, TOPICS)
    for name, figure in (("cm", confusion_matrix_figure(report)), ("f1", per_class_f1_figure(report))):
        labels = [label.get_text() for label in figure.axes[0].get_xticklabels()]
        assert len(labels) == 46 and set(labels) <= {*TOPICS, *(f"{r.name} ({r.support})" for r in report.classes)}
        path = save_figure(figure, tmp_path / f"{name}.png")
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10_000


def test_fit_writes_report_figures_tensorboard_images_and_curves(gru_run: Path) -> None:
    """configs/gru.yaml through scripts/fit.py: everything lands in the run's directory."""
    for name in ("test_report.md", "test_report.json", "confusion_matrix.png", "per_class_f1.png"):
        assert (gru_run / name).is_file(), name
    assert (gru_run / "checkpoints" / "training_curves.png").read_bytes()[:8] == PNG
    report = json.loads((gru_run / "test_report.json").read_text())
    metrics = json.loads((gru_run / "test_metrics.json").read_text())
    assert [row["name"] for row in report["classes"]] == list(TOPICS)
    assert sum(row["support"] for row in report["classes"]) == 2246  # Keras's whole test split
    assert report["accuracy"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert report["macro"]["f1"] == pytest.approx(metrics["test/f1_macro"], abs=1e-6)
    events = EventAccumulator(str(gru_run), size_guidance={"images": 0})
    events.Reload()
    assert {"test/confusion_matrix", "test/per_class_f1"} <= set(events.Tags()["images"])


@pytest.mark.parametrize("logger", ["tensorboard", "csv"])
def test_training_curves_come_from_the_logged_values(
    tmp_path: Path, datamodule: ReutersDataModule, logger: str
) -> None:
    """The per-epoch record and the figure come from what the run logged, whichever logger it has."""
    model = SequenceClassifier(vocab_size=10000, num_classes=46, cell="gru", embedding_dim=8, hidden_size=8)
    curves = TrainingCurves()
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        max_epochs=3,
        limit_train_batches=3,
        limit_val_batches=2,
        logger=(TensorBoardLogger if logger == "tensorboard" else CSVLogger)(tmp_path, name="run"),
        callbacks=[curves],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=datamodule)
    assert curves.path == Path(trainer.checkpoint_callback.dirpath) / "training_curves.png"
    assert curves.path.read_bytes()[:8] == PNG
    rows = read_epochs(tmp_path / "run" / "version_0" / "epochs.csv")
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3]
    for tag in ("train/loss_epoch", "val/loss", "val/acc", "train/acc"):
        assert all(row[tag] for row in rows), tag
    assert float(rows[-1]["val/acc"]) == pytest.approx(float(trainer.callback_metrics["val/acc"]))
    assert float(rows[-1]["train/loss_epoch"]) == pytest.approx(float(trainer.callback_metrics["train/loss_epoch"]))
    if logger == "tensorboard":  # the same values TensorBoard got
        logged = epoch_curves(trainer.logger.log_dir, ["val/acc"])
        assert [value for _, value in logged["val/acc"]] == pytest.approx([float(row["val/acc"]) for row in rows])


def test_test_script_reproduces_the_fits_test_numbers(gru_run: Path, gru_checkpoint: Path, capsys) -> None:
    metrics = main(["--ckpt", str(gru_checkpoint), "--accelerator", "cpu"], command="test")
    out = default_out(gru_checkpoint)
    assert out == gru_run / "evaluation" / gru_checkpoint.stem
    fit_report = json.loads((gru_run / "test_report.json").read_text())
    assert json.loads((out / "test_report.json").read_text()) == fit_report  # same checkpoint, same numbers
    assert metrics["test/acc"] == pytest.approx(json.loads((out / "test_metrics.json").read_text())["test/acc"])
    assert metrics["test/acc"] == pytest.approx(fit_report["accuracy"])
    assert json.loads((gru_run / "test_metrics.json").read_text()) == pytest.approx(metrics)  # the fit's own test
    for name in ("confusion_matrix.png", "per_class_f1.png"):
        assert (out / name).read_bytes()[:8] == PNG
    assert list(out.glob("events.out.tfevents.*"))
    printed = capsys.readouterr().out
    assert "| label | precision | recall | F1 | support |" in printed and "| cocoa |" in printed


def test_test_report_needs_logits_from_test_step() -> None:
    callback = TestReport()
    with pytest.raises(TypeError, match="test_step to return the batch's logits"):
        callback.on_test_batch_end(None, None, None, None, 0)  # type: ignore[arg-type]
