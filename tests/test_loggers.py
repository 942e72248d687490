"""Any logger: the same run directory contents under TensorBoard, CSV, MLflow or two loggers, all under
``--trainer.default_root_dir``; ``--ckpt_path last`` continues the newest run under each; no run is overwritten."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from lightning_seq.cli.lightning_cli import fit_main, main

from .conftest import CONFIGS

TINY = [
    "--config", str(CONFIGS / "gru.yaml"), "--hidden_size", "8", "--model.embedding_dim", "8", "--max_epochs", "2",
    "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2", "--trainer.limit_test_batches", "2",
    "--trainer.enable_progress_bar", "false",
]  # fmt: skip
RUN_FILES = {
    "config.yaml", "epochs.csv", "test_metrics.json", "run_summary.json", "test_report.md", "test_report.json",
    "confusion_matrix.png", "per_class_f1.png", "checkpoints/last.ckpt", "checkpoints/training_curves.png",
}  # fmt: skip
OVERLAYS = ["tensorboard", "csv", "mlflow", "tensorboard+csv"]


def run_directories(root: Path, overlay: str) -> list[Path]:
    """Where each run of ``overlay`` lives under ``root``: the folder holding its checkpoints."""
    pattern = "mlruns/*/*/checkpoints" if overlay == "mlflow" else "lightning_logs/gru/*/checkpoints"
    return sorted(path.parent for path in root.glob(pattern))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_logger_gives_the_same_run_directory_and_resumes_with_last(
    overlay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if overlay == "mlflow" and importlib.util.find_spec("mlflow") is None:
        pytest.skip("pip install -e '.[mlflow]'")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # as configs/logger/mlflow.yaml says
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "runs"
    args = [*TINY, "--config", str(CONFIGS / "logger" / f"{overlay}.yaml"), "--trainer.default_root_dir", str(root)]
    metrics = fit_main(args)

    assert sorted(path.name for path in tmp_path.iterdir()) == ["runs"]  # everything under default_root_dir
    [run] = run_directories(root, overlay)
    written = {str(path.relative_to(run)) for path in run.rglob("*") if path.is_file()}
    assert written >= RUN_FILES, RUN_FILES - written
    assert any(name.startswith("checkpoints/best-epoch") for name in written)
    assert json.loads((run / "test_metrics.json").read_text()) == metrics
    if "csv" in overlay:
        assert (run / "metrics.csv").is_file()  # CSVLogger's own file, beside the run's
    if overlay == "csv":
        assert not list(run.glob("events.out.tfevents.*"))  # no TensorBoard involved

    fit_main([*args, "--max_epochs", "3", "--ckpt_path", "last"])  # continues the same run
    assert run_directories(root, overlay) == [run]
    if overlay != "mlflow":  # and every logger wrote into it, none into a version_1 of its own
        assert [path.name for path in (root / "lightning_logs" / "gru").iterdir()] == ["version_0"]
    assert json.loads((run / "run_summary.json").read_text())["epochs"] == 3
    assert [line.split(",")[0] for line in (run / "epochs.csv").read_text().splitlines()[1:]] == ["1", "2", "3"]


def test_ckpt_path_last_skips_a_newer_run_of_another_architecture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's order: a gru.yaml run, then a hidden-16 variant, then `--config gru.yaml --ckpt_path last`."""
    monkeypatch.chdir(tmp_path)
    fit_main(TINY)
    fit_main([*TINY, "--hidden_size", "16"])  # newer, under the same name
    fit_main([*TINY, "--max_epochs", "3", "--ckpt_path", "last"])
    runs = tmp_path / "lightning_logs" / "gru"
    assert json.loads((runs / "version_0" / "run_summary.json").read_text())["epochs"] == 3
    assert json.loads((runs / "version_1" / "run_summary.json").read_text())["epochs"] == 2
    assert not (runs / "version_2").exists()


def test_a_run_is_named_after_the_model_it_trains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fit_main([*TINY, "--cell", "lstm"])  # gru.yaml, then an LSTM: logged as what it is
    assert (tmp_path / "lightning_logs" / "lstm" / "version_0" / "config.yaml").is_file()
    assert not (tmp_path / "lightning_logs" / "gru").exists()


def test_without_a_logger_a_second_run_never_overwrites_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    fit_main([*TINY, "--trainer.logger", "false"])
    record = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file() and (tmp_path / "config.yaml").is_file()
    with pytest.raises(SystemExit) as exit_:
        main([*TINY, "--trainer.logger", "false", "--cell", "lstm"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and "already holds a run" in err[0], err
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == record
    fit_main([*TINY, "--trainer.logger", "false", "--max_epochs", "3", "--ckpt_path", "last"])  # resuming it is fine
    assert json.loads((tmp_path / "run_summary.json").read_text())["epochs"] == 3
