"""CUDA (cuDNN kernels) in every precision; skipped cleanly on machines without a GPU.

``LIGHTNING_SEQ_REQUIRE_GPU=1`` (set by ``scripts/gpu_check.sh``) turns the skip off: there a missing or
unusable GPU is a failure, not a skip.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import lightning as L
import pytest
import torch

from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.training.module import SequenceClassifier

from .conftest import REPO_ROOT

REQUIRED = os.environ.get("LIGHTNING_SEQ_REQUIRE_GPU") == "1"
needs_cuda = pytest.mark.skipif(not (REQUIRED or torch.cuda.is_available()), reason="needs a CUDA GPU")


@needs_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "16-mixed"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_trains_on_gpu(
    datamodule: ReutersDataModule, tmp_path: Path, precision: str, cell: str, bidirectional: bool
) -> None:
    assert torch.backends.cudnn.is_available()
    model = SequenceClassifier(datamodule.vocab_size, datamodule.num_classes, cell=cell, bidirectional=bidirectional)
    trainer = L.Trainer(
        accelerator="gpu", devices=1, precision=precision, fast_dev_run=3, logger=False,
        enable_progress_bar=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, datamodule=datamodule)
    assert torch.isfinite(trainer.callback_metrics["train/loss_epoch"])
    assert next(model.parameters()).is_cuda
    assert model.net.encoder.strategy(torch.device("cuda")) == "pack"  # cuDNN runs packed batches natively
    assert trainer.train_dataloader.pin_memory


@needs_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gpu_packed_logits_match_cpu_masked(datamodule: ReutersDataModule, cell: str, bidirectional: bool) -> None:
    """The same weights give the same logits on cuDNN (packed) and on CPU (masked)."""
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    model = SequenceClassifier(datamodule.vocab_size, datamodule.num_classes, cell=cell, bidirectional=bidirectional)
    batch = next(iter(datamodule.test_dataloader()))
    with torch.no_grad():
        on_cpu = model.eval()(batch.tokens, batch.lengths)
        on_gpu = model.cuda()(batch.tokens.cuda(), batch.lengths.cuda()).cpu()
    torch.testing.assert_close(on_gpu, on_cpu, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_bf16_mixed_on_cpu(cache_dir: Path, tmp_path: Path, cell: str, bidirectional: bool) -> None:
    data = ReutersDataModule(cache_dir=str(cache_dir), num_words=10000, maxlen=48, batch_size=32)  # CPU bf16 is slow
    model = SequenceClassifier(
        data.vocab_size, data.num_classes, cell=cell, hidden_size=16, bidirectional=bidirectional
    )
    trainer = L.Trainer(
        accelerator="cpu", precision="bf16-mixed", fast_dev_run=2, logger=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, datamodule=data)
    assert torch.isfinite(trainer.callback_metrics["train/loss_epoch"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on machines without a GPU")
def test_gpu_check_fails_loudly_without_a_gpu(tmp_path: Path) -> None:
    """scripts/gpu_check.sh on a CPU-only machine is an error, never a report of skipped tests."""
    env = {key: value for key, value in os.environ.items() if key != "GPU_CHECK_SMOKE"}
    script = REPO_ROOT / "scripts" / "gpu_check.sh"
    result = subprocess.run(["bash", str(script), str(tmp_path / "gpu.md")], capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "error: no CUDA device is visible" in result.stderr
    assert not (tmp_path / "gpu.md").exists()
