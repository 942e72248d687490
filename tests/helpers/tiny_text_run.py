"""A tiny text-files run made through the real front door, and copies of its checkpoint that a stranger crafted."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import torch

from lightning_seq.cli.lightning_cli import fit_main

REPO_ROOT = Path(__file__).resolve().parents[2]
WORDS = {
    "grain": ["wheat", "corn", "tonnes", "harvest", "crop", "export", "barley"],
    "earn": ["profit", "dividend", "quarter", "share", "net", "income", "loss"],
}


def write_texts(directory: Path) -> tuple[Path, Path]:
    """``train.csv`` (30 rows) and ``test.csv`` (10 rows) of two labels with their own words."""
    rows = []
    for number in range(40):
        label = sorted(WORDS)[number % 2]
        words = WORDS[label]
        rows.append(f"r{number},{' '.join(words[(number + step) % len(words)] for step in range(6))},{label}\n")
    train, test = directory / "train.csv", directory / "test.csv"
    train.write_text("id,text,label\n" + "".join(rows[:30]))
    test.write_text("id,text,label\n" + "".join(rows[30:]))
    return train, test


def fit_tiny_run(directory: Path) -> Path:
    """The best checkpoint of a one-epoch, two-batch fit on :func:`write_texts`'s files."""
    train, test = write_texts(directory)
    fit_main(
        [
            "--data", "TextFilesDataModule", "--data.train_file", str(train), "--data.test_file", str(test),
            "--data.batch_size", "8", "--max_epochs", "1", "--hidden_size", "8", "--model.embedding_dim", "8",
            "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2",
            "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(directory / "runs"),
        ]
    )  # fmt: skip
    return next((directory / "runs").rglob("best-*.ckpt"))


def crafted(checkpoint: Path, out: Path, path: object, fmt: str = "csv") -> Path:
    """A copy of ``checkpoint`` whose train, validation and test files are all ``path`` (read as ``fmt``)."""
    saved = torch.load(checkpoint, weights_only=True)
    settings = dict(saved["datamodule_hyper_parameters"])
    settings.update(train_file=path, val_file=path, test_file=path, format=fmt)
    saved["datamodule_hyper_parameters"] = settings
    torch.save(saved, out)
    return out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_script(script: str, *args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """``python scripts/<script> ARGS`` as a user runs it, the worktree first on the import path."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **kwargs.pop("env", {})}
    command = [sys.executable, str(REPO_ROOT / "scripts" / script), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, **kwargs)
