"""Hostile runs of the reports and teachers, through the front door: a distillation teacher of other data, a file
with hundreds of labels, and what TensorBoard and the console show of a plain fit."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torchmetrics.functional.classification import multiclass_confusion_matrix

from lightning_seq.cli.lightning_cli import fit_main, main
from lightning_seq.reporting.plots import (
    confusion_matrix_figure,
    per_class_f1_figure,
    plt,
    save_figure,
    training_curves_figure,
)
from lightning_seq.reporting.report import MATRIX_SHOWN, classification_report
from lightning_seq.training import callbacks

from .conftest import CONFIGS, REPO_ROOT

PNG = b"\x89PNG\r\n\x1a\n"
WORDS = [
    "wheat",
    "corn",
    "oil",
    "gold",
    "bank",
    "rate",
    "price",
    "shares",
    "profit",
    "loss",
    "export",
    "import",
    "trade",
    "market",
    "grain",
    "crude",
]
TINY = [
    "--config", str(CONFIGS / "gru.yaml"), "--data", "TextFilesDataModule", "--hidden_size", "8",
    "--model.embedding_dim", "8", "--max_epochs", "1", "--trainer.limit_train_batches", "2",
    "--trainer.limit_val_batches", "2", "--trainer.enable_progress_bar", "false",
]  # fmt: skip


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def labelled_rows(count: int, labels: list[str], seed: int = 0) -> list[tuple[str, str]]:
    """``count`` rows of eight random words and a word that names the row's label."""
    chooser = random.Random(seed)
    rows = []
    for index in range(count):
        label = labels[index % len(labels)]
        rows.append((" ".join(chooser.choice(WORDS) for _ in range(8)) + f" {label}word", label))
    return rows


def tiny_fit(out: Path, train: Path, test: Path | None = None, *args: str) -> Path:
    """A fit of a few batches into ``out``; its run directory."""
    test_args = ["--data.test_file", str(test)] if test else ["--test_after_fit", "false"]
    fit_main([*TINY, "--data.train_file", str(train), *test_args, "--trainer.default_root_dir", str(out), *args])
    return out / "lightning_logs" / "gru" / "version_0"


def refused(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """The one line ``error: ...`` that the front door prints for ``args`` with exit status 2."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("error: ") and "Traceback" not in "\n".join(lines)
    return lines[-1]


# -- distillation teachers of other data -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def teacher_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Training files and a teacher checkpoint trained on ``train.csv``."""
    out = tmp_path_factory.mktemp("teachers")
    rows = labelled_rows(60, ["grain", "crude", "money"])
    renamed = {"grain": "wheat", "crude": "oil", "money": "fx"}
    files = {
        "train": write_csv(out / "train.csv", rows),
        "test": write_csv(out / "test.csv", rows[:15]),
        # the same texts under other label names: the same vocabulary size and class count
        "renamed": write_csv(out / "renamed.csv", [(text, renamed[label]) for text, label in rows]),
        # one word replaced by an unseen one: the same vocabulary size, another word at the same id
        "otherwords": write_csv(out / "otherwords.csv", [(text.replace("wheat", "barley"), lab) for text, lab in rows]),
    }
    run = tiny_fit(out / "teacher", files["train"], None, "--data.maxlen", "50")
    files["teacher"] = next((run / "checkpoints").glob("best-*.ckpt"))
    return files


def student_args(files: dict[str, Path], train: str, out: Path, teacher: Path) -> list[str]:
    return [
        *TINY, "--data.train_file", str(files[train]), "--data.test_file", str(files["test"]),
        "--trainer.default_root_dir", str(out), "--model.teachers", f"[{teacher}]",
    ]  # fmt: skip


def test_a_teacher_with_other_label_names_is_refused_by_name(
    teacher_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(capsys, student_args(teacher_data, "renamed", tmp_path, teacher_data["teacher"]))
    assert f"teacher {teacher_data['teacher']}" in line
    assert "labels: label 1 is 'crude' for the teacher, 'fx' for the student" in line
    assert "vocabulary:" not in line  # the words are the same
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # no run directory left behind


def test_a_teacher_of_another_vocabulary_of_the_same_size_is_refused(
    teacher_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(capsys, student_args(teacher_data, "otherwords", tmp_path, teacher_data["teacher"]))
    assert "vocabulary: word " in line and "'barley' for the student" in line and "labels:" not in line
    assert not any(tmp_path.iterdir())


def test_a_teacher_of_the_same_data_is_accepted_whatever_its_maxlen(
    teacher_data: dict[str, Path], tmp_path: Path
) -> None:
    metrics = fit_main(student_args(teacher_data, "train", tmp_path, teacher_data["teacher"]))
    assert "test/acc" in metrics  # the student's maxlen (200) is not the teacher's (50): it reads the student's rows


def test_a_reuters_teacher_is_refused_for_a_text_files_student(
    teacher_data: dict[str, Path], gru_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = student_args(teacher_data, "train", tmp_path, gru_checkpoint)
    line = refused(capsys, args)
    assert f"teacher {gru_checkpoint}" in line and "vocab_size 10000 and 46 classes" in line


def test_a_reuters_teacher_with_another_skip_top_is_refused(
    gru_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "--config", str(CONFIGS / "gru.yaml"), "--hidden_size", "8", "--model.embedding_dim", "8", "--max_epochs", "1",
        "--trainer.limit_train_batches", "1", "--trainer.default_root_dir", str(tmp_path), "--data.skip_top", "20",
        "--model.teachers", f"[{gru_checkpoint}]",
    ]  # fmt: skip
    line = refused(capsys, args)
    assert f"teacher {gru_checkpoint}" in line and "skip_top 0 vs the student's 20" in line
    assert not any(tmp_path.iterdir())


# -- hundreds and thousands of labels ----------------------------------------------------------------------------


def test_a_2000_label_report_draws_bounded_figures_and_keeps_every_number(tmp_path: Path) -> None:
    classes = 2000
    names = [f"label{index:04d}" for index in range(classes)]
    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, classes, (6000,), generator=generator)
    preds = torch.where(torch.rand(6000, generator=generator) < 0.6, target, torch.randint(0, classes, (6000,)))
    preds[:300] = 7  # label0007 attracts many items of other labels: the most confused
    report = classification_report(preds, target, names)
    shown = report.matrix_classes()
    assert len(shown) == MATRIX_SHOWN and 7 in shown
    supports = [report.classes[index].support for index in shown]
    assert supports == sorted(supports, reverse=True)  # most test items first
    mass = report.off_diagonal_mass()
    assert min(mass[list(shown)]) >= max(mass[[index for index in range(classes) if index not in shown]])
    matrix = confusion_matrix_figure(report, "many")
    assert len(matrix.axes[0].get_xticklabels()) == MATRIX_SHOWN
    assert "the 40 most-confused of 2,000 labels" in matrix.axes[0].get_title()
    f1 = per_class_f1_figure(report, "many")
    assert len(f1.axes[0].get_xticklabels()) == MATRIX_SHOWN and "of 2,000 labels" in f1.axes[0].get_title()
    for name, figure in (("cm", matrix), ("f1", f1)):
        assert save_figure(figure, tmp_path / f"{name}.png").stat().st_size < 2_000_000
    markdown, data = report.write(tmp_path)
    text = markdown.read_text()
    assert "confusion_matrix.png the 40 most-confused of the 2,000 labels" in text
    assert sum(line.startswith("| label") for line in text.splitlines()) == 2000 + 1  # every label's row
    saved = json.loads(data.read_text())
    cells = saved["confusion_cells"]
    assert saved["confusion"] is None and sum(count for _, _, count in cells) == 6000
    dense = torch.zeros(classes, classes, dtype=torch.long)
    true, predicted, count = torch.tensor(cells).T
    dense[true, predicted] = count
    assert torch.equal(dense, multiclass_confusion_matrix(preds, target, classes))  # nothing lost


def test_a_file_of_300_labels_fits_and_writes_its_metrics_report_and_figures(tmp_path: Path) -> None:
    labels = [f"topic{index:03d}" for index in range(300)]
    rows = labelled_rows(900, labels, seed=1)
    train = write_csv(tmp_path / "train.csv", rows)
    test = write_csv(tmp_path / "test.csv", rows[:600])
    run = tiny_fit(tmp_path / "runs", train, test)
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert set(metrics) == {"test/loss", "test/acc", "test/f1_macro"}
    report = (run / "test_report.md").read_text()
    assert "the 40 most-confused of the 300 labels" in report and "| topic299 |" in report
    for name in ("confusion_matrix.png", "per_class_f1.png"):
        assert (run / name).read_bytes()[:8] == PNG


def test_a_figure_that_fails_is_a_warning_and_the_metrics_stay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError("Unable to allocate 9.6 GiB for an array")

    monkeypatch.setattr(callbacks, "confusion_matrix_figure", out_of_memory)
    rows = labelled_rows(60, ["grain", "crude", "money"])
    with pytest.warns(UserWarning, match="confusion_matrix.png was not drawn \\(MemoryError: Unable to allocate"):
        run = tiny_fit(tmp_path, write_csv(tmp_path / "train.csv", rows), write_csv(tmp_path / "test.csv", rows))
    assert json.loads((run / "test_metrics.json").read_text())["test/acc"] >= 0
    assert (run / "test_report.md").is_file() and (run / "per_class_f1.png").is_file()
    assert not (run / "confusion_matrix.png").exists()


# -- what TensorBoard and the console show of a plain fit ----------------------------------------------------------


@pytest.fixture(scope="module")
def plain_fit(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A two-epoch fit through ``scripts/fit.py`` in a subprocess: its console output (stdout and stderr as one
    stream, as a terminal shows them) and its run directory."""
    out = tmp_path_factory.mktemp("plain")
    rows = labelled_rows(60, ["grain", "crude", "money"])
    train, test = write_csv(out / "train.csv", rows), write_csv(out / "test.csv", rows[:15])
    args = [arg if arg != "1" else "2" for arg in TINY]  # two epochs
    command = [sys.executable, str(REPO_ROOT / "scripts" / "fit.py"), *args, "--data.train_file", str(train)]
    command += ["--data.test_file", str(test), "--trainer.default_root_dir", str(out)]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    return result.stdout, out / "lightning_logs" / "gru" / "version_0"


def test_the_console_has_no_advert_no_metric_rows_and_the_stop_line_after_the_last_epoch(
    plain_fit: tuple[str, Path],
) -> None:
    printed, _ = plain_fit
    assert "litlogger" not in printed and "Tip:" not in printed
    assert "net.encoder" in printed  # the layer table is still there
    assert "Metric" not in printed and "train_metrics" not in printed and "MeanMetric" not in printed
    lines = printed.splitlines()
    last_epoch = next(index for index, line in enumerate(lines) if line.startswith("Epoch 2/2:"))
    stopped = next(index for index, line in enumerate(lines) if line.startswith("`Trainer.fit` stopped"))
    assert stopped > last_epoch


def test_the_hparams_row_has_no_bookkeeping_and_no_multi_label_settings(plain_fit: tuple[str, Path]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    _, run = plain_fit
    events = EventAccumulator(str(run))
    events.Reload()
    rows = [plugin_data_pb2.HParamsPluginData.FromString(raw) for raw in events.PluginTagToContent("hparams").values()]
    keys = {key for row in rows if row.HasField("session_start_info") for key in row.session_start_info.hparams}
    assert {"cell", "hidden_size", "data/train_file", "label_mode"} <= keys
    assert not [key for key in keys if "_instantiator" in key or "_class_path" in key]
    assert not {"per_label_thresholds", "at_least_one_label", "multi_label_loss"} & keys


def test_figures_sort_by_support_mark_missing_labels_and_the_best_epoch() -> None:
    target = torch.tensor([2, 2, 2, 1, 1, 0])  # c most frequent, then b, a; d has no test items
    report = classification_report(torch.tensor([2, 2, 0, 1, 0, 0]), target, ("a", "b", "c", "d"))
    matrix = confusion_matrix_figure(report)
    assert [label.get_text() for label in matrix.axes[0].get_xticklabels()] == ["c", "b", "a", "d"]
    f1 = per_class_f1_figure(report)
    assert [label.get_text() for label in f1.axes[0].get_xticklabels()][-1] == "d (0)"  # after the others
    assert "no test items: no F1" in f1.axes[0].get_legend_handles_labels()[1]
    curves = training_curves_figure({"val/acc": [(1, 0.5), (2, 0.7), (3, 0.6)]}, best_epoch=2)
    assert "best checkpoint (epoch 2)" in curves.axes[1].get_legend_handles_labels()[1]
    for figure in (matrix, f1, curves):
        plt.close(figure)
