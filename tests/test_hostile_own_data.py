"""Own-data files a stranger might hand over, through the front doors (fit, predict, reuters_text): typographic
quotes, a test file that is the training file, a split that leaves nothing to train on, labels that look like numbers
but are not, and an --out that is not a folder."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lightning_seq.cli import predict, reuters_text
from lightning_seq.cli.lightning_cli import main as fit_door
from lightning_seq.data.reuters_text import reuters_wires
from lightning_seq.data.tokenizer import split_words

from .conftest import REPO_ROOT

TINY = [
    "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2", "--max_epochs", "1",
    "--hidden_size", "8", "--model.embedding_dim", "8", "--trainer.enable_progress_bar", "false",
    "--data.batch_size", "4",
]  # fmt: skip


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "text", "label"])
        writer.writerows((f"r{index}", text, label) for index, (text, label) in enumerate(rows))
    return path


def fit_args(train: Path, root: Path, *extra: str) -> list[str]:
    return ["--data", "TextFilesDataModule", "--data.train_file", str(train), "--trainer.default_root_dir", str(root),
            *TINY, *extra]  # fmt: skip


def best_checkpoint(root: Path) -> Path:
    return next(root.glob("lightning_logs/*/version_0/checkpoints/best-*.ckpt"))


def one_line_error(capsys: pytest.CaptureFixture, call, *args) -> str:
    """Run a front door's ``main`` that must refuse its input: exit status 2 and one ``error:`` line."""
    with pytest.raises(SystemExit) as exit_info:
        call(*args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("error: ") and "Traceback" not in "\n".join(err)
    return err[-1]


# -- typographic quotes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, words",
    [
        ("\u201cRain\u201d fell", ["rain", "fell"]),  # English double quotes
        ("\u201eRegen\u201c \u00abpluie\u00bb \u2039x\u203a \uff02y\uff02", ["regen", "pluie", "x", "y"]),
        ("don\u2019t \u2018rain\u2019", ["don't", "'rain'"]),  # single ones are the apostrophe Keras keeps
        ("\"rain\" don't 'rain'", ["rain", "don't", "'rain'"]),  # ASCII: as Keras splits it
    ],
)
def test_typographic_quotes_split_as_their_ascii_ones(text: str, words: list[str]) -> None:
    assert split_words(text) == words


def test_curly_quoted_words_are_the_words_at_training_and_at_predict(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rows = [("\u201cRain\u201d helped the \u201cwheat\u201d crop", "grain"), ("Quarterly profit rose", "earn")] * 6
    train = write_csv(tmp_path / "train.csv", rows)
    fit_door(fit_args(train, tmp_path / "runs", "--test_after_fit", "false"), "fit")
    checkpoint = best_checkpoint(tmp_path / "runs")
    words = torch.load(checkpoint, weights_only=True)["TextFilesDataModule"]["words"]
    assert {"rain", "wheat"} <= set(words) and not [word for word in words if '"' in word or "\u201c" in word]
    capsys.readouterr()
    predict.main(
        ["--ckpt", str(checkpoint), "--json", "--top_k", "2", "--text", "rain and wheat", "--text", "\u00abRain\u00bb"]
    )
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(answer["words"], answer["unknown_words"]) for answer in answers] == [(3, ["and"]), (1, [])]


# -- the same texts in training and in validation or test -----------------------------------------------------


def test_a_test_file_that_is_the_training_file_and_shared_validation_rows_are_reported(tmp_path: Path) -> None:
    rows = [(f"wheat crop number {i}", "grain") if i % 2 else (f"profit rose {i} cts", "earn") for i in range(12)]
    train = write_csv(tmp_path / "train.csv", rows)
    val = write_csv(tmp_path / "val.csv", [("Wheat crop number 1!", "grain"), ("a new text", "earn")])
    command = [sys.executable, str(REPO_ROOT / "scripts" / "fit.py"), *fit_args(train, tmp_path / "runs")]
    command += ["--data.val_file", str(val), "--data.test_file", str(train)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    warned = [line for line in result.stderr.splitlines() if "SplitOverlapWarning" in line]
    assert len(warned) == 2, result.stderr[-3000:]
    assert f"1 of 2 val texts (--data.val_file {val})" in warned[0]  # case and punctuation do not hide a copy
    assert f"12 of 12 test texts (--data.test_file is the training file {train})" in warned[1]
    run_dir = tmp_path / "runs" / "lightning_logs" / "lstm" / "version_0"
    report = (run_dir / "test_report.md").read_text().splitlines()
    assert report[1:3] == [
        "train/val overlap: 1 of 2 val texts also in training.",
        "train/test overlap: 12 of 12 test texts also in training.",
    ]
    overlap = json.loads((run_dir / "test_report.json").read_text())["overlap"]
    assert overlap == [{"split": "val", "shared": 1, "total": 2}, {"split": "test", "shared": 12, "total": 12}]


# -- a validation split that leaves one side empty ---------------------------------------------------------------


@pytest.mark.parametrize(
    "val_split, message",
    [
        ("0.9", "--data.val_split 0.9 holds out all 3 rows of {train} for validation, leaving none to train on"),
        ("0.1", "--data.val_split 0.1 of the 3 rows of {train} holds out none for validation"),
    ],
)
def test_a_split_without_training_or_validation_rows_is_refused_before_the_run_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture, val_split: str, message: str
) -> None:
    train = write_csv(tmp_path / "train.csv", [("wheat rose", "grain"), ("profit fell", "earn"), ("oil", "crude")])
    root = tmp_path / "runs"
    line = one_line_error(capsys, fit_door, fit_args(train, root, "--data.val_split", val_split), "fit")
    assert line.startswith("error: " + message.format(train=train)) and "--data.val_file" in line
    assert not list(root.glob("**/version_*")) and not list(root.glob("**/*.ckpt"))


# -- labels that look like numbers -----------------------------------------------------------------------------


def test_labels_that_only_look_numeric_sort_alphabetically(tmp_path: Path) -> None:
    labels = ["--1", "2", "1", "\u00b2", "-3"]  # "--1" passed lstrip("-").isdigit(), "\u00b2" isdigit(): int() failed
    train = write_csv(
        tmp_path / "train.csv", [(f"text number {i} of {label}", label) for i, label in enumerate(labels * 3)]
    )
    fit_door(fit_args(train, tmp_path / "runs", "--test_after_fit", "false"), "fit")
    state = torch.load(best_checkpoint(tmp_path / "runs"), weights_only=True)["TextFilesDataModule"]
    assert state["labels"] == sorted(labels)


# -- reuters_text --out ----------------------------------------------------------------------------------------


def _listing(folder: Path) -> dict[str, bytes | None]:
    return {str(path): path.read_bytes() if path.is_file() else None for path in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("case", ["file", "link to a file", "/dev/null", "dangling link", "under a file", "in the way"])
def test_reuters_text_out_that_is_not_a_folder_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture, case: str
) -> None:
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me\n")
    out = {
        "file": existing,
        "link to a file": tmp_path / "link",
        "/dev/null": Path(os.devnull),
        "dangling link": tmp_path / "dangling",
        "under a file": existing / "texts",
        "in the way": tmp_path / "texts",
    }[case]
    if case == "link to a file":
        out.symlink_to(existing)
    elif case == "dangling link":
        out.symlink_to(tmp_path / "nowhere")
    elif case == "in the way":
        (out / "train.csv").mkdir(parents=True)  # a folder where the CSV goes
    before = _listing(tmp_path)
    line = one_line_error(capsys, reuters_text.main, ["--out", str(out), "--formats", "csv", "jsonl"])
    assert f"--out {out}" in line
    assert _listing(tmp_path) == before  # nothing written, nothing created, the file untouched
    assert Path(os.devnull).is_char_device()


def test_reuters_text_replaces_a_planted_link_instead_of_writing_through_it(
    real_data_dir: Path, tmp_path: Path
) -> None:
    identifier, _, (topic,) = reuters_wires(str(real_data_dir))["train"][0]
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    planted = tmp_path / "out" / "folder" / "train" / topic / f"{identifier}.txt"
    planted.parent.mkdir(parents=True)
    planted.symlink_to(victim)
    reuters_text.main(["--out", str(tmp_path / "out"), "--formats", "folder", "--multi_label", "false"])
    assert victim.read_text() == "keep me\n"
    assert not planted.is_symlink() and planted.read_text().strip()
