"""Knowledge distillation (Hinton et al. 2015): one model learns an ensemble's softened probabilities, so that
the ensemble's accuracy costs one model at predict time.

The teachers read every training item once, when the fit starts, and their softened probabilities are kept by the
item's token ids. A training batch then looks its rows up instead of running the teachers again: whatever the
sampler, bucketing or shuffling, a row's ids name it (token-identical wires get the same targets, as the teachers
would give them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lightning_seq.checkpoint_file import read_checkpoint
from lightning_seq.data.checkpoint_data import CheckpointEncoding, checkpoint_encoding, datamodule_class, encoding_key
from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.data.text_datamodule import TextFilesDataModule
from lightning_seq.data.tokenizer import WordTokenizer
from lightning_seq.errors import BadCheckpoint


class TeacherTargets:
    """The teachers' mean probabilities at ``temperature`` for every row of a padded training set.

    Args:
        tokens: ``(items, time)`` token ids, each row's ids first and padding after.
        lengths: ``(items,)`` real tokens per row.
        targets: ``(items, classes)`` the teachers' softened mean probabilities, row by row.
    """

    def __init__(self, tokens: Tensor, lengths: Tensor, targets: Tensor) -> None:
        self.targets = targets
        pairs = zip(tokens, lengths.tolist(), strict=True)
        self.rows = {_key(row, length): index for index, (row, length) in enumerate(pairs)}

    @classmethod
    def from_teachers(
        cls,
        teachers: Sequence[nn.Module],
        tokens: Tensor,
        lengths: Tensor,
        temperature: float,
        batch_size: int = 256,
    ) -> TeacherTargets:
        """Run every teacher (``(tokens, lengths) -> logits``) over the rows once, in eval mode, on the CPU."""

        @torch.no_grad()
        def softened(teacher: nn.Module) -> Tensor:
            teacher.eval()
            batches = zip(tokens.split(batch_size), lengths.split(batch_size), strict=True)
            return torch.cat(
                [(teacher(ids[:, : int(kept.max())], kept) / temperature).softmax(-1) for ids, kept in batches]
            )

        return cls(tokens, lengths, torch.stack([softened(teacher) for teacher in teachers]).mean(dim=0))

    def lookup(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """The targets of a batch's rows, on the batch's device."""
        missing = []
        indices = []
        for row, length in zip(tokens.cpu(), lengths.tolist(), strict=True):
            index = self.rows.get(_key(row, length))
            if index is None:
                missing.append(row[:length].tolist()[:8])
            indices.append(index)
        if missing:
            raise KeyError(f"{len(missing)} batch rows are not training rows the teachers read, e.g. {missing[0]}")
        return self.targets[indices].to(tokens.device)


def distillation_loss(logits: Tensor, soft_targets: Tensor, temperature: float) -> Tensor:
    """``T^2 * KL(teachers || student)`` at temperature ``T``: the ``T^2`` keeps its gradients on the scale of the
    hard-label loss as ``T`` changes (Hinton et al. 2015)."""
    log_student = F.log_softmax(logits / temperature, dim=-1)
    return F.kl_div(log_student, soft_targets, reduction="batchmean") * temperature**2


def load_teachers(
    paths: Sequence[str | Path], load: Callable[[str], nn.Module], vocab_size: int, num_classes: int
) -> list[nn.Module]:
    """The teacher networks; one line naming a checkpoint whose vocabulary or classes are not the student's."""
    teachers = []
    for path in paths:
        model = load(str(path))
        _check_sizes(path, model.hparams, vocab_size, num_classes)
        teachers.append(model.net)
    return teachers


def check_teachers(paths: Sequence[str | Path], vocab_size: int, num_classes: int, datamodule: Any) -> None:
    """Everything :func:`load_teachers` and :func:`check_teacher_encodings` refuse, from the checkpoints' settings
    alone (no weights loaded): the CLI calls it before a run's directory is written, so a refused teacher leaves
    nothing behind."""
    for path in paths:
        _check_sizes(path, read_checkpoint(path)["hyper_parameters"], vocab_size, num_classes)
    check_teacher_encodings(paths, datamodule)


def _check_sizes(path: str | Path, hp: Mapping[str, Any], vocab_size: int, num_classes: int) -> None:
    if (hp.get("vocab_size"), hp.get("num_classes")) != (vocab_size, num_classes):
        raise BadCheckpoint(
            f"teacher {path} has vocab_size {hp.get('vocab_size')} and {hp.get('num_classes')} classes, the student "
            f"{vocab_size} and {num_classes}: a teacher must read the student's token ids and name its labels; "
            "train it with the same data settings"
        )


def check_teacher_encodings(paths: Sequence[str | Path], datamodule: Any) -> None:
    """Refuse, in one line naming the teacher and what differs, a teacher that reads other words or means other
    labels by the same ids as the student's data (equal sizes are not enough: another file gives another vocabulary).

    The comparison is the ensembles' (:func:`lightning_seq.data.checkpoint_data.ensemble_encoding`), except ``maxlen``
    and ``truncating``: teachers read the student's rows, as the student cut them. A DataModule that is neither the
    Reuters nor the text-files one is not compared (its encoding is unknown).
    """
    student = _datamodule_encoding(datamodule)
    if student is None:
        return
    student_kind = _kind(type(datamodule))
    data_dir = datamodule.hparams.get("data_dir") if student_kind == "Reuters" else None
    for path in paths:
        teacher_kind = _kind(datamodule_class(path))
        if teacher_kind != student_kind:
            raise BadCheckpoint(
                f"teacher {path} was trained on {teacher_kind}, the student on {student_kind}: a teacher must read "
                "the student's token ids and name its labels; train it on the student's data settings"
            )
        teacher = dataclasses.replace(
            checkpoint_encoding(path, data_dir), maxlen=student.maxlen, truncating=student.truncating
        )
        if encoding_key(teacher) != encoding_key(student):
            raise BadCheckpoint(
                f"teacher {path} encodes the data differently from the student ({_differences(teacher, student)}): "
                "a teacher must read the student's token ids as the same words and name its labels; train it "
                "on the student's data settings (the same training file, num_words, min_count, tokenizer)"
            )


def _kind(datamodule_class: type) -> str | None:
    if issubclass(datamodule_class, TextFilesDataModule):
        return "text files"
    return "Reuters" if issubclass(datamodule_class, ReutersDataModule) else None


def _datamodule_encoding(datamodule: Any) -> CheckpointEncoding | None:
    """The student's encoding, built as :func:`~lightning_seq.inference.checkpoint_encoding` builds a
    checkpoint's (the Reuters word index itself is not compared: ``num_words`` and ``skip_top`` choose the ids)."""
    hp = datamodule.hparams
    kind = _kind(type(datamodule))
    if kind == "text files":
        tokenizer, words = datamodule.text_tokenizer(), datamodule.words
    elif kind == "Reuters":
        tokenizer, words = WordTokenizer({}, datamodule.vocab_size, hp.get("skip_top", 0)), None
    else:
        return None
    return CheckpointEncoding(
        tokenizer, tuple(datamodule.label_names), hp.maxlen, hp.get("truncating", "pre"), datamodule.multi_label,
        words, getattr(tokenizer, "serialized", None),
    )  # fmt: skip


def _differences(teacher: CheckpointEncoding, student: CheckpointEncoding) -> str:
    """``labels: the teacher has 'x' where the student has 'y' (first of 3); vocabulary: ...``, short."""
    parts = []
    if teacher.label_names != student.label_names:
        parts.append("labels: " + _first_difference(teacher.label_names, student.label_names, "label"))
    if teacher.multi_label != student.multi_label:
        parts.append(f"multi_label {teacher.multi_label} vs the student's {student.multi_label}")
    if (teacher.subword is None) != (student.subword is None):
        kinds = ("a subword tokenizer" if enc.subword else "a word vocabulary" for enc in (teacher, student))
        parts.append("tokenizer: {} vs the student's {}".format(*kinds))
    elif teacher.subword != student.subword:
        parts.append("tokenizer: another subword vocabulary")
    elif teacher.words != student.words:
        parts.append("vocabulary: " + _first_difference(teacher.words or (), student.words or (), "word"))
    if teacher.tokenizer.vocab_size != student.tokenizer.vocab_size:
        parts.append(f"vocab_size {teacher.tokenizer.vocab_size} vs the student's {student.tokenizer.vocab_size}")
    teacher_skip, student_skip = (getattr(enc.tokenizer, "skip_top", None) for enc in (teacher, student))
    if teacher_skip != student_skip:
        parts.append(f"skip_top {teacher_skip} vs the student's {student_skip}")
    return "; ".join(parts) or "its encoding"


def _first_difference(theirs: Sequence[str], ours: Sequence[str], what: str) -> str:
    differ = sum(a != b for a, b in zip(theirs, ours, strict=False)) + abs(len(theirs) - len(ours))
    index = next((i for i, (a, b) in enumerate(zip(theirs, ours, strict=False)) if a != b), min(len(theirs), len(ours)))
    mine = repr(theirs[index][:40]) if index < len(theirs) else "none"
    yours = repr(ours[index][:40]) if index < len(ours) else "none"
    return f"{what} {index + 1} is {mine} for the teacher, {yours} for the student, {differ:,} of {len(ours):,} differ"


def _key(row: Tensor, length: int) -> bytes:
    return row[:length].numpy().tobytes()
