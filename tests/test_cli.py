"""The front door: scripts/fit.py end to end, short flags, overrides, --print_config, errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lightning_seq.cli.aliases import expand_short_flags
from lightning_seq.cli.lightning_cli import fit_main, main

from .conftest import CONFIGS, REPO_ROOT
from .helpers.terminal import run_in_terminal

SUBSET = [
    "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2", "--trainer.limit_test_batches", "2",
    "--trainer.enable_progress_bar", "false",
]  # fmt: skip


def printed_config(capsys: pytest.CaptureFixture, args: list[str]) -> dict:
    with pytest.raises(SystemExit) as exit_:
        fit_main([*args, "--print_config"])
    assert exit_.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


def test_short_flags_expand_in_place() -> None:
    args = ["--config", "a.yaml", "--cell", "gru", "--bidirectional", "--precision=bf16-mixed", "--max_epochs", "3"]
    assert expand_short_flags(args) == [
        "--config", "a.yaml", "--model.cell", "gru", "--model.bidirectional", "true",
        "--trainer.precision=bf16-mixed", "--trainer.max_epochs", "3",
    ]  # fmt: skip
    assert expand_short_flags(["--bidirectional", "false"]) == ["--model.bidirectional", "false"]
    assert expand_short_flags(["--bidirectional"]) == ["--model.bidirectional", "true"]


def test_fit_script_writes_checkpoints_events_and_test_metrics(tmp_path: Path) -> None:
    """The exact front-door command, as a user runs it, on a subset of the real data."""
    command = [sys.executable, str(REPO_ROOT / "scripts" / "fit.py"), "--config", str(CONFIGS / "gru.yaml")]
    command += ["--max_epochs", "2", "--hidden_size", "16", *SUBSET]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    run = tmp_path / "lightning_logs" / "gru" / "version_0"
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert "last.ckpt" in checkpoints and any(name.startswith("best-epoch") for name in checkpoints)
    assert list(run.glob("events.out.tfevents.*"))
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert set(metrics) == {"test/loss", "test/acc", "test/f1_macro"}
    assert all(0.0 <= metrics[key] <= 1.0 for key in ("test/acc", "test/f1_macro"))
    summary = json.loads((run / "run_summary.json").read_text())
    assert summary["epochs"] == 2 and summary["seconds_per_epoch"] > 0 and summary["test"] == metrics
    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    assert hparams["vocab_size"] == 10000 and hparams["num_classes"] == 46  # linked from the DataModule
    assert hparams["hidden_size"] == 16
    assert "Test metrics:" in result.stdout
    assert "net.encoder" in result.stderr  # the model summary with parameter counts (Lightning logs it)


def test_short_flags_train_the_requested_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["--cell", "lstm", "--bidirectional", "--hidden_size", "8", "--max_epochs", "1", "--batch_size", "64"]
    metrics = fit_main([*args, "--data.num_words", "10000", "--accelerator", "cpu", *SUBSET])
    assert set(metrics) == {"test/loss", "test/acc", "test/f1_macro"}
    saved = yaml.safe_load((tmp_path / "lightning_logs" / "bilstm" / "version_0" / "config.yaml").read_text())
    assert saved["model"]["cell"] == "lstm" and saved["model"]["bidirectional"] is True
    assert saved["data"]["init_args"]["batch_size"] == 64


def test_overrides_and_layering_follow_argument_order(capsys: pytest.CaptureFixture) -> None:
    config = printed_config(
        capsys, ["--config", str(CONFIGS / "gru.yaml"), "--model.hidden_size", "128", "--cell", "lstm"]
    )
    assert config["model"]["hidden_size"] == 128 and config["model"]["cell"] == "lstm"
    assert config["trainer"]["max_epochs"] == 5
    config = printed_config(capsys, ["--cell", "lstm", "--config", str(CONFIGS / "gru.yaml")])
    assert config["model"]["cell"] == "gru"  # a config given later wins, as with any LightningCLI option


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--model.hiden_size", "8"], "hiden_size"),
        (["--cell", "transformer"], "Expected a typing.Literal['rnn', 'lstm', 'gru']"),
        (["--config", "configs/missing.yaml"], "missing.yaml"),
    ],
)
def test_bad_options_are_refused_by_name(args: list[str], complaint: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and err[0].startswith("error: ") and complaint in err[0], err


def test_flags_alone_train_the_presets_recipe(capsys: pytest.CaptureFixture) -> None:
    """Without --config the CLI's defaults are the presets' (not Lightning's 1,000 epochs at lr 1e-3)."""
    config = printed_config(capsys, ["--cell", "lstm"])
    preset = printed_config(capsys, ["--config", str(CONFIGS / "lstm.yaml")])
    for section, key in [("trainer", "max_epochs"), ("model", "hidden_size")]:
        assert config[section][key] == preset[section][key]
    assert config["data"] == preset["data"]  # the DataModule (Reuters) and every one of its settings
    assert config["model"]["optimizer"] == preset["model"]["optimizer"]
    config = printed_config(capsys, ["--model.optimizer", "torch.optim.SGD", "--model.optimizer.lr", "0.1"])
    assert config["model"]["optimizer"]["class_path"] == "torch.optim.SGD"


def test_early_stopping_on_val_acc_comes_from_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An EarlyStopping callback in YAML stops the run: no epoch can improve val/acc by 1.0."""
    monkeypatch.chdir(tmp_path)
    overlay = tmp_path / "early.yaml"
    stopper = {"monitor": "val/acc", "mode": "max", "patience": 0, "min_delta": 1.0}
    callbacks = [{"class_path": "lightning.pytorch.callbacks.EarlyStopping", "init_args": stopper}]
    overlay.write_text(yaml.safe_dump({"trainer": {"max_epochs": 5, "callbacks": callbacks}}))
    args = ["--config", str(CONFIGS / "gru.yaml"), "--config", str(overlay), "--hidden_size", "8", *SUBSET]
    fit_main(args)
    summary = json.loads((tmp_path / "lightning_logs" / "gru" / "version_0" / "run_summary.json").read_text())
    assert summary["epochs"] == 2  # the first epoch sets the best, the second fails to beat it by 1.0 and stops


def test_ddp_front_door_trains_two_ranks_and_reports_once(tmp_path: Path) -> None:
    """The README's ``--accelerator cpu --devices 2 --strategy ddp --max_epochs 2``, progress bar on, as users run it.

    Lightning starts the second rank with the same command. (With the bar on, this once deadlocked after epoch 0.)
    """
    command = [sys.executable, str(REPO_ROOT / "scripts" / "fit.py"), "--config", str(CONFIGS / "gru.yaml")]
    command += [
        "--accelerator",
        "cpu",
        "--devices",
        "2",
        "--strategy",
        "ddp",
        "--max_epochs",
        "2",
        "--hidden_size",
        "8",
    ]
    command += [arg for arg in SUBSET if arg not in ("--trainer.enable_progress_bar", "false")]
    status, printed = run_in_terminal(command, tmp_path, timeout=240)  # a terminal: the progress bar is on
    assert status == 0, printed[-3000:]
    assert "Epoch 2/2: 100%" in printed  # the progress bar drew the second epoch to its end (1-based)
    assert printed.count("Test metrics:") == 1  # reported by rank 0 only
    runs = tmp_path / "lightning_logs" / "gru"
    assert [path.name for path in runs.iterdir()] == ["version_0"]  # one run directory for both ranks
    run = runs / "version_0"
    report = json.loads((run / "test_report.json").read_text())
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert report["accuracy"] == pytest.approx(metrics["test/acc"], abs=1e-6)  # the report holds both ranks' items
    assert sum(row["support"] for row in report["classes"]) == 2 * 2 * 128  # 2 ranks x 2 test batches
    summary = json.loads((run / "run_summary.json").read_text())
    assert summary["test"] == metrics and summary["epochs"] == 2


def test_what_the_user_sees_while_training(tmp_path: Path) -> None:
    """In a terminal: a progress bar, Lightning's model table, one line per epoch counted from 1, rounded metrics,
    and no library warning that is not the user's to act on; TensorBoard gets the learning rate and an HParams entry
    with the run's results; checkpoint names count epochs from 1."""
    command = [sys.executable, str(REPO_ROOT / "scripts" / "fit.py"), "--config", str(CONFIGS / "gru.yaml")]
    command += ["--max_epochs", "2", "--hidden_size", "8", *SUBSET[:6]]
    status, printed = run_in_terminal(command, tmp_path, timeout=300)
    assert status == 0, printed[-3000:]
    epoch_lines = [line.split("\r")[-1] for line in printed.splitlines() if ": loss " in line]
    epoch_lines = [line for line in epoch_lines if line.startswith("Epoch ")]
    assert [line.split(":")[0] for line in epoch_lines] == ["Epoch 1/2", "Epoch 2/2"]
    assert all(re.search(r"val_acc \d\.\d{4} - \d+\.\d s$", line) for line in epoch_lines), epoch_lines
    assert "Epoch 2/2: 100%" in printed  # the progress bar counts the same way
    assert "net.encoder" in printed  # Lightning's ModelSummary, two levels deep
    assert "LeafSpec" not in printed and "DeprecationWarning" not in printed and "FutureWarning" not in printed
    assert re.search(r"Test metrics: loss \d\.\d{4} - acc \d\.\d{4} - f1_macro \d\.\d{4} \(written to", printed)

    run = tmp_path / "lightning_logs" / "gru" / "version_0"
    best = [path.name for path in (run / "checkpoints").glob("best-*.ckpt")]
    assert best and all(re.fullmatch(r"best-epoch0[12]-val_acc0\.\d{4}\.ckpt", name) for name in best), best
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    assert "lr-Adam" in events.Tags()["scalars"]
    scalars = events.Tags()["scalars"]
    assert {"whole_run/best_val_acc", "whole_run/test/acc"} <= set(scalars)
    groups = sorted({tag.split("/")[0].lower() for tag in scalars})
    assert groups[-1] == "whole_run", groups  # the one-point result charts come after the training curves
    assert events.PluginTagToContent("hparams")  # the HParams view's entry for this run


def test_piped_output_has_the_epoch_lines_and_no_progress_bar_frames(tmp_path: Path) -> None:
    """`scripts/fit.py ... | tee log`: a pipe is no terminal, so the bar stays off and the log holds lines only."""
    command = [sys.executable, str(REPO_ROOT / "scripts" / "fit.py"), "--config", str(CONFIGS / "gru.yaml")]
    command += ["--max_epochs", "2", "--hidden_size", "8", *SUBSET[:6]]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = result.stdout + result.stderr
    assert "\r" not in printed and "it/s" not in printed
    epochs = [line.split(":")[0] for line in printed.splitlines() if line.startswith("Epoch ") and ": loss " in line]
    assert epochs == ["Epoch 1/2", "Epoch 2/2"]


def test_help_fits_a_screen_and_help_all_has_everything(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        fit_main(["--help"])
    short = capsys.readouterr().out
    assert exit_.value.code == 0 and len(short.splitlines()) <= 40
    assert "--cell" in short and "--model.optimizer.init_args.lr" in short and "--help_all" in short
    with pytest.raises(SystemExit):
        fit_main(["--help_all"])
    assert "--trainer.gradient_clip_val" in capsys.readouterr().out


def test_one_console_entry_point_runs_lightningclis_subcommands(gru_checkpoint: Path, tmp_path: Path) -> None:
    """`lightning-seq validate|test --ckpt_path` (installed by pip) rebuild model and data from the checkpoint."""
    out = tmp_path / "eval"
    done = subprocess.run(
        ["lightning-seq", "test", "--ckpt_path", str(gru_checkpoint), "--out", str(out), "--accelerator", "cpu"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "test_metrics.json").read_text())
    fit_run = gru_checkpoint.parent.parent
    assert metrics == pytest.approx(json.loads((fit_run / "test_metrics.json").read_text()))  # the fit's own test
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["hidden_size"] == 16  # from the checkpoint
    assert f"test acc {metrics['test/acc']:.4f}" in done.stdout

    from lightning_seq.__main__ import run

    val = run(
        [
            "validate",
            "--ckpt_path",
            str(gru_checkpoint),
            "--out",
            str(tmp_path / "val"),
            "--trainer.limit_val_batches",
            "5",
        ]
    )  # as the fit validated
    best = float(re.search(r"val_acc(\d\.\d+)", gru_checkpoint.name).group(1))
    assert val["val/acc"] == pytest.approx(best, abs=5e-5)  # the score the checkpoint was chosen by
    assert (tmp_path / "val" / "validation_metrics.json").is_file()


def test_console_entry_point_refuses_unknown_subcommands(capsys: pytest.CaptureFixture) -> None:
    from lightning_seq.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main(["tran", "--cell", "gru"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: unknown subcommand 'tran'; choose one of fit, validate, test, pretrain, predict, export, serve, tune, "
        "reuters-text, compare, benchmark"
    )
    with pytest.raises(SystemExit) as exit_:
        main(["test", "--out", "somewhere"])
    assert exit_.value.code == 2
    assert "--out somewhere: only `test` or `validate` with --ckpt_path" in capsys.readouterr().err
