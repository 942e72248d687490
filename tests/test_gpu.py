"""CUDA (cuDNN kernels) in every precision; skipped cleanly on machines without a GPU."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from lightning_seq.data import ReutersDataModule
from lightning_seq.module import SequenceClassifier

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


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
        on_cpu = model.eval()(batch.tokens)
        on_gpu = model.cuda()(batch.tokens.cuda()).cpu()
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
