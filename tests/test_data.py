"""ReutersDataModule on the real data: splits, batches, properties, argument errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_seq.data.batching import Batch, PaddedDataset
from lightning_seq.data.datamodule import ReutersDataModule


def test_keras_split_with_seeded_validation(datamodule: ReutersDataModule) -> None:
    sizes = {name: len(dataset) for name, dataset in datamodule.datasets.items()}
    assert sizes == {"train": 7186, "val": 1796, "test": 2246}  # 8,982 Keras train = 7,186 + 1,796


def test_validation_draw_partitions_keras_train_and_is_seeded(datamodule: ReutersDataModule, cache_dir: Path) -> None:
    keras_train, _ = datamodule.splits()
    everything = Counter(map(tuple, PaddedDataset(keras_train, maxlen=200).tokens.tolist()))
    parts = Counter()
    for split in ("train", "val"):
        parts.update(map(tuple, datamodule.datasets[split].tokens.tolist()))
    assert parts == everything  # together exactly Keras's 8,982 training wires, none twice

    same = ReutersDataModule(cache_dir=str(cache_dir), num_words=10000)
    other = ReutersDataModule(cache_dir=str(cache_dir), num_words=10000, val_seed=1)
    same.setup(), other.setup()
    assert torch.equal(same.datasets["val"].tokens, datamodule.datasets["val"].tokens)
    assert not torch.equal(other.datasets["val"].tokens, datamodule.datasets["val"].tokens)


def test_bucketed_batches_are_trimmed_to_their_longest_member(datamodule: ReutersDataModule) -> None:
    batches = list(datamodule.train_dataloader())
    assert sum(len(batch.labels) for batch in batches) == 7186 and len(batches) == 57
    for batch in batches:
        assert isinstance(batch, Batch) and batch.tokens.dtype == torch.int64
        assert batch.tokens.size(1) == int(batch.lengths.max()) <= 200
        assert torch.equal(batch.lengths, (batch.tokens != 0).sum(dim=1))
        assert torch.all(batch.tokens[:, 0] != 0)  # every row starts with its tokens, padding after
        assert torch.equal(batch.tokens != 0, torch.arange(batch.tokens.size(1)) < batch.lengths.unsqueeze(1))
        assert int(batch.tokens.max()) < datamodule.vocab_size and 0 <= batch.labels.min() <= batch.labels.max() < 46
    padded = sum(len(b.labels) * b.tokens.size(1) for b in batches) - sum(int(b.lengths.sum()) for b in batches)
    assert padded / sum(len(b.labels) * b.tokens.size(1) for b in batches) < 0.05  # vs ~45 % at a fixed 200


def test_predictions_come_in_dataset_order(datamodule: ReutersDataModule) -> None:
    labels = torch.cat([batch.labels for batch in datamodule.predict_dataloader()])
    assert torch.equal(labels, datamodule.datasets["test"].labels)


def test_without_bucketing_batches_are_the_seeds_fixed_width(cache_dir: Path) -> None:
    module = ReutersDataModule(cache_dir=str(cache_dir), num_words=10000, bucketing=False)
    module.setup()
    batch = next(iter(module.train_dataloader()))
    assert batch.tokens.shape == (128, 200)
    assert torch.equal(batch.lengths, (batch.tokens != 0).sum(dim=1))


def test_truncation_options(cache_dir: Path) -> None:
    module = ReutersDataModule(cache_dir=str(cache_dir), num_words=10000, maxlen=50, truncating="post")
    module.setup()
    test = module.datasets["test"]
    assert test.tokens.shape == (2246, 50)
    assert torch.all(test.tokens[:, 0] == 1)  # post-truncation keeps each newswire's start token
    assert int(test.lengths.max()) == 50 and int(test.lengths.min()) >= 2
    pre = ReutersDataModule(cache_dir=str(cache_dir), num_words=10000, maxlen=50)  # Keras's default: keep the end
    pre.setup()
    cut = torch.nonzero(pre.datasets["test"].lengths == 50).flatten()
    assert len(cut) > 0 and not torch.all(pre.datasets["test"].tokens[cut, 0] == 1)


def test_properties(datamodule: ReutersDataModule) -> None:
    assert datamodule.vocab_size == 10000
    assert ReutersDataModule().vocab_size == 30983  # the full vocabulary: raw ids up to 30,979, shifted by 3
    assert datamodule.num_classes == 46 and len(datamodule.topic_names) == 46
    assert datamodule.topic_names[3] == "earn" and datamodule.topic_names[45] == "lead"
    assert datamodule.word_index["the"] == 1


def test_label_counts_match_the_data_readme(datamodule: ReutersDataModule) -> None:
    train, test = datamodule.splits()
    counts = np.bincount(np.concatenate([train.labels, test.labels]), minlength=46)
    assert counts[3] == 3972 and counts[4] == 2423 and counts[19] == 682 and counts.min() == 16


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_split": 1.0}, r"val_split must be in \[0, 1\)"),
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"maxlen": 0}, "maxlen must be a positive integer, got 0"),
        ({"num_words": 2}, "num_words must be > 3"),
        ({"bucket_batches": 0}, "bucket_batches must be a positive integer"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReutersDataModule(**kwargs)


def test_dataloader_before_setup_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"call setup\(\) before"):
        ReutersDataModule().train_dataloader()
