"""Exact resume after SIGKILL (mid-epoch and at an epoch's end), and same seed -> same model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lightning_seq.cli.lightning_cli import fit_main
from lightning_seq.data.batching import BucketBatchSampler, EpochRandomSampler
from lightning_seq.data.files import DATA_ENV
from lightning_seq.data.reuters import CACHE_ENV

from .conftest import CONFIGS, REPO_ROOT
from .helpers.tensorboard_events import epoch_curves

# Small enough for CI, big enough to be real: 3 epochs of 12 batches, dropout on (so the random stream matters).
RUN = [
    "--config", str(CONFIGS / "gru.yaml"), "--hidden_size", "8", "--model.embedding_dim", "8",
    "--model.dropout", "0.3", "--num_layers", "2", "--max_epochs", "3",
    "--trainer.limit_train_batches", "12", "--trainer.limit_val_batches", "3", "--trainer.limit_test_batches", "2",
    "--trainer.enable_progress_bar", "false",
]  # fmt: skip
RUN_DIR = Path("lightning_logs") / "gru" / "version_0"


def fit(cwd: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``scripts/fit.py`` as a user runs it, in its own process."""
    env = os.environ | (env or {}) | {"PYTHONPATH": str(REPO_ROOT)}  # for tests.helpers.kill
    command = [sys.executable, str(REPO_ROOT / "scripts" / "fit.py"), *RUN, *extra]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def final_state(run: Path) -> tuple[dict[str, torch.Tensor], int, dict[str, float]]:
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    curves = epoch_curves(run, ["val/acc", "val/loss"])
    last_epoch = {tag: points[-1] for tag, points in curves.items()}
    return checkpoint["state_dict"], checkpoint["global_step"], last_epoch


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, real_data_dir: Path, cache_dir: Path) -> Path:
    cwd = tmp_path_factory.mktemp("uninterrupted")
    data = {DATA_ENV: str(real_data_dir), CACHE_ENV: str(cache_dir)}  # module fixtures start before the per-test env
    result = fit(cwd, "--step_checkpoint.every_n_train_steps", "4", env=data)
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd / RUN_DIR


@pytest.mark.parametrize(
    ("every_n_steps", "kill_at", "resumes_from"),
    [(4, 18, 16), (50, 14, 12)],
    ids=["inside-an-epoch", "after-an-epoch"],
)
def test_sigkill_then_ckpt_path_last_gives_the_uninterrupted_model(
    uninterrupted: Path, tmp_path: Path, every_n_steps: int, kill_at: int, resumes_from: int
) -> None:
    every = ["--step_checkpoint.every_n_train_steps", str(every_n_steps)]
    killed = fit(
        tmp_path, *every, "--trainer.callbacks+=tests.helpers.kill.KillAtStep", f"--trainer.callbacks.step={kill_at}"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    saved = torch.load(tmp_path / RUN_DIR / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == resumes_from  # epoch 1 has steps 12..23
    position = saved["ReutersDataModule"]["train_position"]
    assert (position["epoch"], position["consumed"]) == ((1, 4) if resumes_from == 16 else (0, 12))

    started = time.perf_counter()
    resumed = fit(tmp_path, *every, "--ckpt_path", "last")
    resumed_seconds = time.perf_counter() - started
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming from {RUN_DIR / 'checkpoints' / 'last.ckpt'}" in resumed.stdout
    assert "not resumable" not in resumed.stderr  # Lightning's warning for loaders without a state

    weights, step, metrics = final_state(tmp_path / RUN_DIR)
    expected_weights, expected_step, expected_metrics = final_state(uninterrupted)
    assert step == expected_step == 36
    assert weights.keys() == expected_weights.keys()
    for name, tensor in weights.items():
        assert torch.equal(tensor, expected_weights[name]), name
    assert metrics == expected_metrics and metrics["val/acc"][0] == 3  # the same final validation, epoch 3

    # Epoch times are real: an epoch the resumed process entered midway is not timed (it once read the uptime).
    timed = {epoch: seconds for epoch, seconds in epoch_curves(tmp_path / RUN_DIR, ["time/epoch_s"])["time/epoch_s"]}
    summary = json.loads((tmp_path / RUN_DIR / "run_summary.json").read_text())
    assert 0 < summary["seconds_per_epoch"] < resumed_seconds
    assert all(0 < seconds < resumed_seconds for seconds in timed.values())
    assert sorted(timed) == ([1, 3] if resumes_from == 16 else [1, 2, 3])  # epoch 2 was resumed midway


def test_a_sampler_resumes_its_epoch_and_the_random_stream() -> None:
    lengths = torch.randint(1, 50, (300,))
    torch.manual_seed(0)
    original = BucketBatchSampler(EpochRandomSampler(range(300)), lengths, 16, bucket_batches=4)
    original.sampler.set_epoch(2)
    iterator = iter(original)
    served = [next(iterator) for _ in range(5)]
    state = original.state_dict()
    expected_rest, expected_draw = list(iterator), torch.rand(3)

    torch.manual_seed(123)  # a new process: another random state, another shuffle
    resumed = BucketBatchSampler(EpochRandomSampler(range(300)), lengths, 16, bucket_batches=4)
    resumed.sampler.set_epoch(2)
    resumed.load_state_dict(state)
    assert list(resumed) == expected_rest and len(served) + len(expected_rest) == len(original) == 19
    assert torch.equal(torch.rand(3), expected_draw)
    assert resumed.state_dict()["consumed"] == 19  # counted from the epoch's start

    other_data = BucketBatchSampler(EpochRandomSampler(range(250)), lengths, 16, bucket_batches=4)
    other_data.load_state_dict(state)
    with pytest.warns(UserWarning, match="covers 300 training items but the data now has 250"):
        assert sorted(i for batch in other_data for i in batch) == list(range(250))


def test_same_seed_same_model_other_seed_other_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CPU training is deterministic: two runs with --seed_everything 7 agree bit for bit."""
    runs = {}
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        metrics = fit_main([*RUN, "--max_epochs", "2", "--seed_everything", seed])
        runs[name] = (final_state(tmp_path / name / RUN_DIR), metrics)
    (weights_a, _, val_a), test_a = runs["a"]
    (weights_b, _, val_b), test_b = runs["b"]
    assert all(torch.equal(weights_a[key], weights_b[key]) for key in weights_a)
    assert val_a == val_b and test_a == test_b
    weights_c = runs["c"][0][0]
    assert not torch.equal(weights_a["net.head.weight"], weights_c["net.head.weight"])
