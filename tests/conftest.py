"""Shared fixtures: the real Reuters files (../shared/data or $LIGHTNING_SEQ_DATA) and a private cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.data.files import DATA_ENV
from lightning_seq.data.reuters import CACHE_ENV, NPZ, WORD_INDEX

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "configs"


CONFIGURED_DATA = os.environ.get(DATA_ENV)
# A relative $LIGHTNING_SEQ_DATA is read from the folder pytest started in, now: tests change folders and start
# subprocesses elsewhere.
DATA_DIR = Path(CONFIGURED_DATA).expanduser().absolute() if CONFIGURED_DATA else REPO_ROOT.parent / "shared" / "data"
if CONFIGURED_DATA:
    os.environ[DATA_ENV] = str(DATA_DIR)
MISSING = [spec.name for spec in (NPZ, WORD_INDEX) if not (DATA_DIR / spec.name).exists()]


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real files; a set but wrong $LIGHTNING_SEQ_DATA fails loudly instead of skipping."""
    if MISSING and CONFIGURED_DATA:
        pytest.fail(f"{DATA_ENV}={CONFIGURED_DATA} lacks {MISSING}")
    if MISSING:
        pytest.skip(f"the real Reuters files are not in {DATA_DIR}; set {DATA_ENV}")
    return DATA_DIR


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    """Every test (and every subprocess it starts) reads the real data and writes to a private cache."""
    monkeypatch.setenv(DATA_ENV, str(DATA_DIR))
    monkeypatch.setenv(CACHE_ENV, str(cache_dir))


@pytest.fixture(scope="session")
def datamodule(real_data_dir: Path, cache_dir: Path) -> ReutersDataModule:
    """The seed configs' data settings, set up once for the session."""
    module = ReutersDataModule(data_dir=str(real_data_dir), cache_dir=str(cache_dir), num_words=10000)
    module.prepare_data()
    module.setup()
    return module


@pytest.fixture(scope="session")
def gru_run(real_data_dir: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small run of ``configs/gru.yaml`` through the real front door (a few batches, full test split)."""
    from lightning_seq.cli.lightning_cli import fit_main

    save_dir = tmp_path_factory.mktemp("runs")
    fit_main(
        [
            "--config", str(CONFIGS / "gru.yaml"),
            "--hidden_size", "16", "--model.embedding_dim", "16", "--max_epochs", "2",
            "--trainer.limit_train_batches", "20", "--trainer.limit_val_batches", "5",
            "--trainer.enable_progress_bar", "false", "--trainer.logger.init_args.save_dir", str(save_dir),
            # explicit: session fixtures start before the per-test environment is set
            "--data.data_dir", str(real_data_dir), "--data.cache_dir", str(cache_dir),
        ]
    )  # fmt: skip
    return save_dir / "gru" / "version_0"


@pytest.fixture(scope="session")
def gru_checkpoint(gru_run: Path) -> Path:
    return next((gru_run / "checkpoints").glob("best-*.ckpt"))
