"""Distillation: the teachers' cached soft targets, the loss, and a fit that learns from a real checkpoint."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.errors import BadCheckpoint, BadValue
from lightning_seq.inference.loading import load_model
from lightning_seq.nn.classifier import RecurrentClassifier
from lightning_seq.training.distillation import TeacherTargets, distillation_loss
from lightning_seq.training.module import SequenceClassifier
from tests.test_model import batch


def test_soft_targets_are_found_by_each_rows_tokens_whatever_the_batch() -> None:
    torch.manual_seed(0)
    teachers = [RecurrentClassifier(30, 4, "gru", embedding_dim=4, hidden_size=3) for _ in range(2)]
    tokens, lengths = batch([[1, 5, 9], [1, 7], [1, 4, 4, 4, 8]], width=6)
    targets = TeacherTargets.from_teachers(teachers, tokens, lengths, temperature=2.0)
    with torch.no_grad():
        expected = sum((teacher.eval()(tokens, lengths) / 2.0).softmax(dim=-1) for teacher in teachers) / 2
    torch.testing.assert_close(targets.targets, expected)
    shuffled, shuffled_lengths = batch([[1, 4, 4, 4, 8], [1, 5, 9]], width=9)  # another order and width
    torch.testing.assert_close(targets.lookup(shuffled, shuffled_lengths), expected[[2, 0]])
    with pytest.raises(KeyError, match="not training rows"):
        targets.lookup(*batch([[1, 2, 3]]))


def test_the_loss_vanishes_when_the_student_matches_and_scales_with_t_squared() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0]])
    for temperature in (1.0, 4.0):
        matched = (logits / temperature).softmax(dim=-1)
        assert float(distillation_loss(logits, matched, temperature)) == pytest.approx(0.0, abs=1e-6)
    uniform = torch.full((1, 3), 1 / 3)
    assert float(distillation_loss(logits, uniform, 1.0)) > 0


def test_a_student_fits_on_a_real_teachers_targets(
    gru_checkpoint: Path, datamodule: ReutersDataModule, tmp_path: Path
) -> None:
    student = SequenceClassifier(
        datamodule.vocab_size, datamodule.num_classes, cell="gru", embedding_dim=8, hidden_size=8,
        teachers=[str(gru_checkpoint)], distill_temperature=3.0, distill_weight=0.7,
    )  # fmt: skip
    trainer = L.Trainer(
        default_root_dir=tmp_path, accelerator="cpu", logger=False, enable_progress_bar=False, max_steps=3,
        limit_val_batches=1, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(student, datamodule=datamodule)
    assert trainer.global_step == 3 and student.teacher_targets is not None
    train = datamodule.datasets["train"]
    teacher = load_model(gru_checkpoint).net
    with torch.no_grad():
        expected = (teacher(train.tokens[:4, : int(train.lengths[:4].max())], train.lengths[:4]) / 3.0).softmax(-1)
    torch.testing.assert_close(student.teacher_targets.targets[:4], expected, atol=1e-5, rtol=0)


def test_bad_teachers_are_named(gru_checkpoint: Path, datamodule: ReutersDataModule, tmp_path: Path) -> None:
    with pytest.raises(BadValue, match="single-label only"):
        SequenceClassifier(10000, 46, teachers=[str(gru_checkpoint)], label_mode="multi")
    other_vocabulary = SequenceClassifier(20000, 46, embedding_dim=4, hidden_size=4, teachers=[str(gru_checkpoint)])
    trainer = L.Trainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False, max_steps=1)
    with pytest.raises(BadCheckpoint, match="vocab_size 10000"):
        trainer.fit(other_vocabulary, datamodule=datamodule)
