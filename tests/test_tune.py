"""scripts/tune.py: tiny real studies (a few batches per trial) end to end, pruning, failures, resume, workers."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy
import yaml

from lightning_seq.cli.lightning_cli import fit_main, resolved_config
from lightning_seq.cli.tune import main, parse_args
from lightning_seq.tune.tuner import Tuner

from .conftest import CONFIGS, REPO_ROOT

PNG = b"\x89PNG\r\n\x1a\n"
TINY = [
    "--config", str(CONFIGS / "gru.yaml"), "--max_epochs", "2", "--model.embedding_dim", "8",
    "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2",
]  # fmt: skip
SPACE = """
model.hidden_size: {type: int, low: 4, high: 16, log: true}
model.optimizer.init_args.lr: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}
model.pooling: {type: categorical, choices: [last, max]}
"""


def write_space(directory: Path, text: str = SPACE) -> Path:
    path = directory / "space.yaml"
    path.write_text(text)
    return path


def rows(study_dir: Path, name: str = "trials") -> list[dict]:
    with (study_dir / f"{name}.csv").open() as file:
        return list(csv.DictReader(file))


def load(study_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name=study_dir.name, storage=f"sqlite:///{study_dir / 'study.db'}")


def test_a_tiny_study_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """3 real trials: tables, runnable best config, figures, a TensorBoard run and config per trial, no test."""
    monkeypatch.chdir(tmp_path)
    study_dir = main([*TINY, "--space", str(write_space(tmp_path)), "--trials", "3", "--study", "tiny"])
    assert study_dir == Path("tune") / "tiny"
    table = rows(study_dir)
    assert [row["state"] for row in table] == ["complete"] * 3
    assert sorted(int(row["trial"]) for row in table) == [0, 1, 2]
    assert load(study_dir).metric_names == ["val_acc"]  # named in optuna-dashboard, not "Objective 0"
    assert all(0 <= float(row["val_acc"]) <= 1 and row["epochs"] == "2" for row in table)
    study = load(study_dir)
    assert float(table[0]["val_acc"]) == pytest.approx(study.best_value)  # best first
    for trial in study.trials:
        run = study_dir / "trials" / f"trial_{trial.number:03d}"
        assert (
            yaml.safe_load((run / "config.yaml").read_text())["model"]["hidden_size"]
            == trial.params["model.hidden_size"]
        )
        assert list(run.glob("events.out.tfevents.*")) and list((run / "checkpoints").glob("best-*.ckpt"))
        assert not (run / "test_metrics.json").exists()  # trials never look at the test split
        assert len(trial.intermediate_values) == 2  # val/acc reported each epoch, for the pruner
    for figure in ("history", "importances", "parallel_coordinate", "slice"):
        assert (study_dir / f"{figure}.png").read_bytes()[:8] == PNG
    assert "| trial | state | model.hidden_size |" in (study_dir / "trials.md").read_text()

    best = study_dir / "best.yaml"
    config = resolved_config(["--config", str(best)])
    assert config["model"]["hidden_size"] == study.best_params["model.hidden_size"]
    assert config["model"]["optimizer"]["init_args"]["lr"] == pytest.approx(
        study.best_params["model.optimizer.init_args.lr"]
    )
    metrics = fit_main(["--config", str(best), "--trainer.enable_progress_bar", "false"])  # runs as it is
    assert 0 < metrics["test/acc"] <= 1
    assert (tmp_path / "lightning_logs" / "tiny" / "version_0" / "test_metrics.json").is_file()


def test_baseline_runs_the_base_configs_own_values_first(tmp_path: Path) -> None:
    """--baseline: trial 0 is the base recipe itself, so the table shows what the search gained over it."""
    base = [*TINY, "--model.hidden_size", "8", "--model.optimizer.init_args.lr", "0.002", "--model.pooling", "max"]
    args = [*base, "--space", str(write_space(tmp_path)), "--trials", "2", "--out", str(tmp_path / "tune")]
    study_dir = main([*args, "--baseline", "--study", "with_baseline"])
    first = load(study_dir).trials[0]
    assert first.params == {
        "model.hidden_size": 8,
        "model.optimizer.init_args.lr": pytest.approx(0.002),
        "model.pooling": "max",
    }
    assert first.state == optuna.trial.TrialState.COMPLETE and first.user_attrs["baseline"] is True
    (row,) = [row for row in rows(study_dir) if row["trial"] == "0 (baseline)"]
    assert float(row["last_val_acc"]) == pytest.approx(first.intermediate_values[1])  # the final epoch's val/acc


def test_pruning_stops_poor_trials_after_their_first_epoch(tmp_path: Path) -> None:
    space = write_space(tmp_path)
    args, overrides = parse_args(
        [*TINY, "--max_epochs", "3", "--space", str(space), "--trials", "2", "--out", str(tmp_path / "tune")]
    )
    tuner = Tuner(args, overrides)
    study = tuner.optimize(pruner=optuna.pruners.ThresholdPruner(lower=0.999))  # no tiny trial gets there
    assert [trial.state for trial in study.trials] == [optuna.trial.TrialState.PRUNED] * 2
    assert all(len(trial.intermediate_values) == 1 and trial.user_attrs["epochs"] == 1 for trial in study.trials)
    tuner.write_outputs()
    assert [row["state"] for row in rows(tuner.directory)] == ["pruned", "pruned"]


def test_a_failing_trial_is_recorded_with_its_reason_and_the_study_goes_on(tmp_path: Path) -> None:
    space = write_space(tmp_path, "model.embeddings: {type: categorical, choices: [null, /nowhere/glove.txt]}\n")
    args, overrides = parse_args([*TINY, "--space", str(space), "--trials", "1", "--out", str(tmp_path / "t")])
    tuner = Tuner(args, overrides)
    study = tuner.study()
    study.enqueue_trial({"model.embeddings": "/nowhere/glove.txt"})
    study.enqueue_trial({"model.embeddings": None})
    tuner.optimize()
    tuner.write_outputs()
    table = {row["trial"]: row for row in rows(tuner.directory)}
    assert table["0"]["state"] == "fail" and "/nowhere/glove.txt" in table["0"]["failure"]
    assert table["1"]["state"] == "complete" and not table["1"]["failure"]


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("", "is empty: name at least one setting"),
        ("model.hiden_size: {type: int, low: 4, high: 8}\n", "model.hiden_size is not a setting of this config; "
         "did you mean model.hidden_size"),
        ("model.hidden_size: {type: int, low: 8, high: 4}\n", "model.hidden_size: low 8 is above high 4"),
        ("model.dropout: {type: float, low: 0.0, high: 0.5, log: true}\n", "a log scale needs low > 0, got 0.0"),
        ("model.dropout: {type: gaussian, mean: 0.1}\n", "is not a distribution; give type: float | int | categorical"),
        ("model.pooling: {type: categorical, choices: []}\n", "choices must be a non-empty list"),
        ("model.hidden_size: {type: int, low: 4, high: 8, stepp: 2}\n", "unknown field(s) ['stepp']"),
        ("model.dropout: {type: float, low: 0.1, high: 1.5}\n", "the space reaches a value the fit refuses: "
         'Parser key "model.dropout": Not of type Fraction: 1.5 does not conform to restriction v>=0 and v<1'),
        ("model.cell: {type: categorical, choices: [gru, transformer]}\n", "the space reaches a value the fit refuses"),
    ],
)  # fmt: skip
def test_search_space_mistakes_are_refused_by_name_before_any_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture, space: str, message: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*TINY, "--space", str(write_space(tmp_path, space)), "--trials", "2", "--out", str(tmp_path / "t")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1, err
    assert err[0].startswith("error: ") and message in err[0], err
    assert not (tmp_path / "t").exists()  # nothing ran, nothing was created


def test_a_base_without_validation_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(CONFIGS / "best.yaml"), "--space", str(write_space(tmp_path)), "--trials", "1"])
    assert exit_.value.code == 2
    assert "needs data.val_split > 0" in capsys.readouterr().err


def tune_command(tmp_path: Path, *extra: str) -> list[str]:
    space = write_space(tmp_path)
    return [
        sys.executable, str(REPO_ROOT / "scripts" / "tune.py"), *TINY, "--space", str(space),
        "--out", str(tmp_path / "tune"), "--study", "s", *extra,
    ]  # fmt: skip


def test_a_killed_study_resumes_where_it_stopped(tmp_path: Path) -> None:
    """SIGKILL inside trial 1; the same command, at once, keeps trial 0, marks 1 interrupted and runs it again.

    At once: well inside Optuna's heartbeat grace period, so the dead trial is known by its process being gone.
    """
    command = tune_command(tmp_path, "--trials", "3", "--max_epochs", "30")
    study_dir = tmp_path / "tune" / "s"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        # Read once a trial has started: the study exists, and this reader cannot race the tuner's creation of its
        # tables (both would stamp the schema's version: UNIQUE constraint failed: alembic_version.version_num).
        if not (study_dir / "trials").exists():
            continue
        try:
            states = [trial.state.name for trial in load(study_dir).trials]
        except (KeyError, sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError):  # still being created
            continue
        if states[:2] == ["COMPLETE", "RUNNING"]:
            break
    else:
        process.kill()
        pytest.fail("trial 1 never started")
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = load(study_dir).trials
    states = [trial.state.name for trial in trials]
    assert states.count("COMPLETE") == 3 and states[:2] == ["COMPLETE", "FAIL"], states
    retried = [trial for trial in trials[2:] if trial.params == trials[1].params]
    assert retried, "the interrupted trial's settings ran again"
    table = {row["trial"]: row for row in rows(study_dir)}
    assert table["1"]["state"] == "fail" and table["1"]["failure"].startswith("interrupted")
    assert "running" not in {row["state"] for row in table.values()}


def test_two_workers_share_one_study_and_split_the_cores(tmp_path: Path) -> None:
    done = subprocess.run(
        tune_command(tmp_path, "--trials", "4", "--workers", "2"), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    trials = load(tmp_path / "tune" / "s").trials
    assert sorted(trial.number for trial in trials if trial.state.name == "COMPLETE") == [0, 1, 2, 3]
    assert len(trials) == 4  # none lost, none run twice
    workers = {trial.user_attrs["worker"] for trial in trials}
    threads = max(1, (os.cpu_count() or 1) // 2)
    assert len({worker.split(",")[0] for worker in workers}) == 2, workers  # two processes took trials
    assert all(worker.endswith(f" {threads} threads") for worker in workers), workers


def test_sigterm_stops_the_study_and_the_same_command_continues_it(tmp_path: Path) -> None:
    """A stop request ends the search (exit 143), not just the running trial; that trial is failed with why."""
    command = tune_command(tmp_path, "--trials", "2", "--max_epochs", "40")
    study_dir = tmp_path / "tune" / "s"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(study_dir.glob("trials/trial_000/checkpoints/last.ckpt")):
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    trials = load(study_dir).trials
    assert [trial.state.name for trial in trials] == ["FAIL"]  # no further trial was started
    assert trials[0].user_attrs["failure"].startswith("stopped by SIGTERM")
