"""Hostile runs of the reports and teachers, through the front door: a distillation teacher of other data, a file
with hundreds of labels, and what TensorBoard and the console show of a plain fit."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from lightning_seq.cli.lightning_cli import fit_main, main

from .conftest import CONFIGS

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
