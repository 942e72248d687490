"""What the user sees is free of library warnings that are not theirs to act on, and no run changes the process's
warning filters: the known ones are silenced only around the call that raises them."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

from lightning_seq.cli.lightning_cli import fit_main

from .conftest import CONFIGS, REPO_ROOT

# Any UserWarning (Lightning's PossibleUserWarning included) or FutureWarning fails the run.
STRICT = [sys.executable, "-W", "error::UserWarning", "-W", "error::FutureWarning"]
SMALL = [
    "--config", str(CONFIGS / "gru.yaml"), "--hidden_size", "8", "--model.embedding_dim", "8", "--max_epochs", "2",
    "--trainer.limit_train_batches", "4", "--trainer.limit_val_batches", "2", "--trainer.limit_test_batches", "2",
    "--trainer.log_every_n_steps", "2",  # fewer batches than the default 50 would earn Lightning's (fair) warning
]  # fmt: skip


def test_a_fit_warns_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [*STRICT, str(REPO_ROOT / "scripts" / "fit.py"), *SMALL], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Warning" not in result.stderr, result.stderr[-3000:]


def test_a_tune_trial_warns_nothing(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("model.hidden_size: {type: int, low: 4, high: 8}\n")
    command = [*STRICT, str(REPO_ROOT / "scripts" / "tune.py"), *SMALL, "--space", str(space), "--trials", "1"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Warning" not in result.stderr, result.stderr[-3000:]
    assert (tmp_path / "tune" / "gru-space" / "trials.md").is_file()


def test_a_run_leaves_the_process_warning_filters_as_they_were(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = list(warnings.filters)
    fit_main([*SMALL, "--trainer.enable_progress_bar", "false"])
    assert warnings.filters == before
