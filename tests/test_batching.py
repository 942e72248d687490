"""Length bucketing: coverage, sorting, shuffling, trimming, and disjoint shards under real DDP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler, RandomSampler, SequentialSampler

from lightning_seq.data.batching import BucketBatchSampler, PaddedDataset
from lightning_seq.data.sequences import Ragged

from .conftest import REPO_ROOT

LENGTHS = torch.randint(1, 300, (1000,), generator=torch.Generator().manual_seed(0))


def batches_of(sampler: BucketBatchSampler) -> list[list[int]]:
    return list(iter(sampler))


def test_every_index_once_in_full_batches() -> None:
    sampler = BucketBatchSampler(RandomSampler(range(1000)), LENGTHS, batch_size=32, bucket_batches=4)
    batches = batches_of(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(1000))
    assert len(batches) == len(sampler) == 32 and sorted(map(len, batches))[1:] == [32] * 31  # one short batch
    dropping = BucketBatchSampler(RandomSampler(range(1000)), LENGTHS, batch_size=32, drop_last=True)
    assert len(batches_of(dropping)) == len(dropping) == 31


def test_chunks_are_sorted_by_length() -> None:
    """Unshuffled, each chunk of bucket_batches batches reads out in non-decreasing length."""
    sampler = BucketBatchSampler(SequentialSampler(range(1000)), LENGTHS, 32, bucket_batches=4, shuffle=False)
    flat = torch.tensor([i for batch in batches_of(sampler) for i in batch])
    for chunk in flat.split(32 * 4):
        assert torch.all(LENGTHS[chunk].diff() >= 0)
        assert set(chunk.tolist()) == set(range(int(chunk.min()), int(chunk.max()) + 1))  # a contiguous slice


def test_bucketing_narrows_batches() -> None:
    def mean_width(bucket_batches: int) -> float:
        torch.manual_seed(0)
        batches = BucketBatchSampler(RandomSampler(range(1000)), LENGTHS, 32, bucket_batches=bucket_batches)
        return float(np.mean([int(LENGTHS[b].max()) for b in batches]))

    assert mean_width(8) < 0.75 * mean_width(1)  # bucket_batches=1 only sorts within a batch: random widths


def test_shuffled_order_changes_each_epoch_and_follows_the_seed() -> None:
    sampler = BucketBatchSampler(RandomSampler(range(1000)), LENGTHS, 32)
    torch.manual_seed(5)
    first, second = batches_of(sampler), batches_of(sampler)
    torch.manual_seed(5)
    assert batches_of(sampler) == first and first != second


def test_distributed_shares_are_disjoint_and_complete() -> None:
    """What Lightning builds per rank under DDP: this sampler around a DistributedSampler."""
    for epoch in range(2):
        shares = []
        for rank in range(2):
            distributed = DistributedSampler(range(1000), num_replicas=2, rank=rank, shuffle=True, seed=3)
            distributed.set_epoch(epoch)
            shares.append(batches_of(BucketBatchSampler(distributed, LENGTHS, 32)))
        ranks = [{i for batch in share for i in batch} for share in shares]
        assert not ranks[0] & ranks[1] and ranks[0] | ranks[1] == set(range(1000))
        assert len(shares[0]) == len(shares[1])  # equal step counts: no rank waits forever in a collective


def test_real_ddp_gives_each_rank_its_own_share(tmp_path: Path) -> None:
    """Two CPU processes with Lightning's DDP strategy, on the real data."""
    script = REPO_ROOT / "tests" / "helpers" / "ddp_shards.py"
    result = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    assert all(r["world_size"] == 2 and r["sampler"] == "DistributedSampler" for r in reports)
    for epoch in ("0", "1"):
        shares = [{i for batch in r["batches"][epoch] for i in batch} for r in reports]
        assert not shares[0] & shares[1] and len(shares[0] | shares[1]) == 7186
        assert len(reports[0]["batches"][epoch]) == len(reports[1]["batches"][epoch])
    assert reports[0]["batches"]["0"] != reports[0]["batches"]["1"]  # reshuffled each epoch
    assert reports[0]["val_acc"] == reports[1]["val_acc"] and reports[0]["val_loss"] == reports[1]["val_loss"]


def test_trimmed_batches_keep_every_token() -> None:
    sequences = Ragged.from_lists([[5, 6], [7, 8, 9], [4]], np.array([0, 1, 2]))
    dataset = PaddedDataset(sequences, maxlen=6, trim=True)
    batch = dataset.__getitems__([0, 1])
    assert batch.tokens.tolist() == [[5, 6, 0], [7, 8, 9]] and batch.lengths.tolist() == [2, 3]
    assert dataset.__getitems__([2]).tokens.tolist() == [[4]]


def test_bad_bucket_size() -> None:
    with pytest.raises(ValueError, match="bucket_batches must be >= 1"):
        BucketBatchSampler(range(3), LENGTHS[:3], 2, bucket_batches=0)
