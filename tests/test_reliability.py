"""A hostile user's faults, run as the user runs them: SIGTERM to a stuck DDP run, a refused resume, unreadable
checkpoints, a full disk, bad settings answered in one line. (DDP with the progress bar: tests/test_cli.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from lightning_seq.cli.lightning_cli import fit_main, main

from .conftest import CONFIGS, REPO_ROOT

FIT = [sys.executable, str(REPO_ROOT / "scripts" / "fit.py")]
# A few batches of the real data; the progress bar stays on, as users have it.
SMALL = [
    "--config", str(CONFIGS / "gru.yaml"), "--hidden_size", "8", "--model.embedding_dim", "8",
    "--trainer.limit_train_batches", "6", "--trainer.limit_val_batches", "2", "--trainer.limit_test_batches", "2",
]  # fmt: skip
RUN = Path("lightning_logs") / "gru" / "version_0"


def start(command: list[str], cwd: Path, grace_s: float | None = None) -> subprocess.Popen:
    """In its own process group, as a shell job is: a stop reaches every rank, and cleanup can kill them all."""
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT)}  # for tests.helpers
    if grace_s is not None:  # how long a stuck process gets after SIGTERM (default 60 s)
        env |= {"LIGHTNING_SEQ_SIGTERM_GRACE_S": str(grace_s)}
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def finish(process: subprocess.Popen, timeout: float) -> tuple[int, str, str]:
    """The exit status and output; a run still going after ``timeout`` seconds is killed, group and all, and fails."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"still running after {timeout:.0f} s; stderr ends:\n{err[-2000:]}")
    return process.returncode, out, err


def live_members(pgid: int) -> list[int]:
    """Processes of the group that still run (zombies are dead: a container's init may never reap them)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (command)": state, ppid, pgrp, ...
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def test_sigterm_ends_a_ddp_run_whose_ranks_are_stuck(tmp_path: Path) -> None:
    """Both ranks blocked inside gloo ignore Python's signal handlers; ``timeout`` / a scheduler must still end them."""
    hang = ["--trainer.callbacks+=tests.helpers.hang.HangAtStep", "--trainer.callbacks.step=3"]
    args = [*SMALL, "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--max_epochs", "1", *hang]
    process = start([*FIT, *args], tmp_path, grace_s=5)
    deadline = time.monotonic() + 180
    while not all((tmp_path / f"hung-rank{rank}").exists() for rank in (0, 1)):
        if process.poll() is not None or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"the ranks never reached the stuck step:\n{process.communicate()[1][-3000:]}")
        time.sleep(0.5)
    time.sleep(2)  # well inside the blocking receive
    os.killpg(process.pid, signal.SIGTERM)  # what `timeout` and SLURM send: every process of the job
    stopped = time.monotonic()
    code, _, err = finish(process, timeout=60)
    assert code != 0 and time.monotonic() - stopped < 30
    assert "stopped by SIGTERM" in err
    time.sleep(1)
    assert not live_members(process.pid), "a rank outlived the stop request"


def test_sigterm_stops_training_between_batches(tmp_path: Path) -> None:
    """The graceful path: Lightning's handler runs, training stops at the next batch, exit status 143."""
    term = ["--trainer.callbacks+=tests.helpers.kill.KillAtStep", "--trainer.callbacks.step=3"]
    command = [*FIT, *SMALL, "--max_epochs", "2", *term, "--trainer.callbacks.signal_name=SIGTERM"]
    code, _, err = finish(start(command, tmp_path), timeout=120)
    assert code == 143, err[-3000:]
    assert err.strip().splitlines()[-1] == "Stopped by SIGTERM; continue with the same command and --ckpt_path last"
    assert not (tmp_path / RUN / "test_metrics.json").exists()  # no test of a stopped run


def test_refused_resume_leaves_the_run_record_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fit_main([*SMALL, "--max_epochs", "1", "--trainer.enable_progress_bar", "false"])
    record = {path: path.read_bytes() for path in (tmp_path / RUN).rglob("*") if path.is_file()}
    with pytest.raises(SystemExit) as exit_:
        main([*SMALL, "--hidden_size", "32", "--ckpt_path", "last"])
    assert exit_.value.code == 2
    assert {path: path.read_bytes() for path in (tmp_path / RUN).rglob("*") if path.is_file()} == record
    assert yaml.safe_load((tmp_path / RUN / "config.yaml").read_text())["model"]["hidden_size"] == 8  # as it ran


def test_corrupt_checkpoint_is_refused_in_one_line_by_every_script(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Random bytes as --ckpt_path / --ckpt: the project's message, never torch's advice to unpickle."""
    from lightning_seq.cli import export, predict

    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(os.urandom(4096))
    doors = {
        "fit": lambda: main([*SMALL, "--ckpt_path", str(junk)]),
        "test": lambda: main(["--ckpt", str(junk)], command="test"),
        "predict": lambda: predict.main(["--ckpt", str(junk), "--text", "wheat"]),
        "export": lambda: export.main(["--ckpt", str(junk)]),
    }
    for name, door in doors.items():
        with pytest.raises(SystemExit) as exit_:
            door()
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 2, name
        assert err[-1].startswith(f"error: {junk} is not a readable checkpoint"), (name, err)
        assert "weights_only" not in "\n".join(err), name
    assert not (tmp_path / "lightning_logs").exists()


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 3 MB tmpfs: room for the run's files and two checkpoints of the tiny model, not a third."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_leaves_complete_checkpoints_only(small_disk: Path, tmp_path: Path) -> None:
    command = [*FIT, *SMALL, "--max_epochs", "3", "--trainer.logger.init_args.save_dir", str(small_disk)]
    code, _, err = finish(start(command, tmp_path), timeout=180)
    assert code == 2, err[-3000:]
    message = err.strip().splitlines()[-1]
    assert message.startswith("error: could not write the checkpoint") and "No space left on device" in message
    files = list((small_disk / "gru" / "version_0" / "checkpoints").iterdir())
    assert files and not [path for path in files if path.name.startswith(".")]  # no temporary files left
    for path in files:
        torch.load(path, weights_only=True)  # every checkpoint under its name is complete


@pytest.mark.parametrize(
    ("flag", "value", "complaint"),
    [
        (
            "--batch_size",
            "0",
            'Parser key "data.batch_size": Not of type PositiveInt: 0 does not conform to restriction v>0',
        ),
        ("--data.maxlen", "0", 'Parser key "data.maxlen": Not of type PositiveInt: 0 does not conform'),
        (
            "--data.val_split",
            "1.5",
            'Parser key "data.val_split": Not of type Fraction: 1.5 does not conform to restriction v>=0 and v<1',
        ),
        ("--hidden_size", "0", 'Parser key "model.hidden_size": Not of type PositiveInt: 0'),
        ("--num_layers", "0", 'Parser key "model.num_layers": Not of type PositiveInt: 0'),
        ("--model.dropout", "1.5", 'Parser key "model.dropout": Not of type Fraction: 1.5 does not conform'),
        ("--accelerator", "gpu", "--accelerator gpu: no CUDA device is visible"),
    ],
)
def test_bad_settings_are_one_line_before_anything_is_built(
    flag: str, value: str, complaint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    if flag == "--accelerator" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(CONFIGS / "gru.yaml"), flag, value])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert exit_.value.code == 2 and len(err) == 1 and complaint in err[0], err
    assert not (tmp_path / "lightning_logs").exists()  # no empty version_0 left behind


def test_readme_gpu_example_without_a_gpu_says_so_in_one_line(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = subprocess.run(
        [*FIT, "--cell", "lstm", "--accelerator", "gpu"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: --accelerator gpu: no CUDA device is visible")


def test_float16_on_cpu_is_refused_instead_of_running_another_precision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Lightning would run bf16-mixed while config.yaml said 16-mixed: say so in one line instead, write nothing."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main([*SMALL, "--accelerator", "cpu", "--precision", "16-mixed"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and err == [
        "error: --precision 16-mixed: float16 autocast needs a CUDA GPU; on CPU use bf16-mixed (bfloat16 autocast) "
        "or 32-true"
    ]
    assert not (tmp_path / "lightning_logs").exists()


# What a hostile run of the front doors tried, each answered in one line with exit status 2 and nothing written.
def _one_line_error(door, capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as exit_:
        door()
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line]
    assert exit_.value.code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.mark.parametrize("devices", ["0", "-1", "abc"])
def test_impossible_devices_are_one_line(devices: str, tmp_path: Path, monkeypatch, capsys) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.chdir(tmp_path)
    assert f"--devices {devices}: give a number of devices" in _one_line_error(
        lambda: main([*SMALL, "--devices", devices]), capsys
    )
    assert list(tmp_path.iterdir()) == []


def test_binary_config_and_search_space_are_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    from lightning_seq.cli import tune

    monkeypatch.chdir(tmp_path)
    junk = tmp_path / "junk.yaml"
    junk.write_bytes(bytes(range(128, 256)))
    assert "is not a YAML text file" in _one_line_error(lambda: main(["--config", str(junk)]), capsys)
    tuned = [*SMALL, "--space", str(junk), "--trials", "1"]
    assert "is not a YAML text file" in _one_line_error(lambda: tune.main(tuned), capsys)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["junk.yaml"]


def test_a_bad_storage_url_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    from lightning_seq.cli import tune

    monkeypatch.chdir(tmp_path)
    space = tmp_path / "space.yaml"
    space.write_text("model.hidden_size: {type: int, low: 4, high: 8}\n")
    args = [*SMALL, "--space", str(space), "--trials", "1", "--storage", "nosuch://db"]
    assert "--storage nosuch://db: cannot open it" in _one_line_error(lambda: tune.main(args), capsys)


def test_checkpoint_faults_at_predict_and_export_are_one_line(
    gru_checkpoint: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    from lightning_seq.cli import export, predict

    monkeypatch.chdir(tmp_path)
    copy = tmp_path / "model.ckpt"
    copy.write_bytes(gru_checkpoint.read_bytes())
    original = copy.read_bytes()
    refused = _one_line_error(lambda: export.main(["--ckpt", str(copy), "--out", str(copy)]), capsys)
    assert "is a checkpoint itself" in refused and copy.read_bytes() == original
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    out = blocker / "model.onnx"
    assert "is a file, not a directory" in _one_line_error(
        lambda: export.main(["--ckpt", str(copy), "--out", str(out), "--check_batches", "0"]), capsys
    )
    if not torch.cuda.is_available():
        no_gpu = _one_line_error(
            lambda: predict.main(["--ckpt", str(copy), "--text", "wheat", "--device", "cuda"]), capsys
        )
        assert "--device cuda: no CUDA device is visible" in no_gpu

    broken = torch.load(copy, weights_only=True)
    broken["state_dict"] = {key: value * float("nan") for key, value in broken["state_dict"].items()}
    torch.save(broken, tmp_path / "nan.ckpt")
    door = lambda: predict.main(["--ckpt", str(tmp_path / "nan.ckpt"), "--text", "wheat exports", "--json"])  # noqa: E731
    assert "not finite numbers" in _one_line_error(door, capsys)
    assert capsys.readouterr().out == ""  # no `nan` printed as if it were an answer


def test_foreign_hyperparameters_in_a_checkpoint_are_one_line(gru_checkpoint: Path, tmp_path: Path, capsys) -> None:
    foreign = torch.load(gru_checkpoint, weights_only=True)
    foreign["hyper_parameters"] = {**foreign["hyper_parameters"], "colour": "red"}
    torch.save(foreign, tmp_path / "foreign.ckpt")
    door = lambda: main(["--ckpt", str(tmp_path / "foreign.ckpt"), "--out", str(tmp_path / "eval")], command="test")  # noqa: E731
    assert "colour" in _one_line_error(door, capsys)


@pytest.mark.parametrize("change", [["--batch_size", "64"], ["--data.maxlen", "100"]], ids=["batch_size", "maxlen"])
def test_resuming_on_other_batches_is_refused(change: list[str], tmp_path: Path, monkeypatch, capsys) -> None:
    """config.yaml and hparams.yaml would disagree, and the resumed epochs would draw other batches."""
    monkeypatch.chdir(tmp_path)
    fit_main([*SMALL, "--max_epochs", "1", "--trainer.enable_progress_bar", "false"])
    record = {path: path.read_bytes() for path in (tmp_path / RUN).rglob("*") if path.is_file()}
    refused = _one_line_error(lambda: main([*SMALL, *change, "--max_epochs", "2", "--ckpt_path", "last"]), capsys)
    assert "resuming would continue on other batches" in refused and change[0].split(".")[-1].lstrip("-") in refused
    assert {path: path.read_bytes() for path in (tmp_path / RUN).rglob("*") if path.is_file()} == record


def test_a_limited_validation_scores_wires_of_every_length(datamodule) -> None:
    """`limit_val_batches` takes the first batches: they must not be the shortest wires (0.93 vs 0.82 once)."""
    lengths = datamodule.datasets["val"].lengths.float()
    first = [batch.lengths.float() for batch, _ in zip(datamodule.val_dataloader(), range(2), strict=False)]
    assert all(len(batch) == 128 for batch in first)  # whole batches first; the short one last
    # Sorted by length, the first 256 wires were the shortest 14 %: their median lay below the 25 % quantile.
    assert float(torch.cat(first).median()) > float(lengths.quantile(0.25))
