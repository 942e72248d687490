"""Batches of padded token ids: padded once, served by index, optionally bucketed by length and trimmed."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized
from typing import NamedTuple

import torch
from torch import Tensor
from torch.utils.data import BatchSampler, Dataset, Sampler

from lightning_seq.encoding import Ragged, pad_sequences


class Batch(NamedTuple):
    """What every dataloader yields; Lightning moves it to the device as a whole."""

    tokens: Tensor  # (batch, time) int64, 0 = padding
    lengths: Tensor  # (batch,) int64, real tokens per row
    labels: Tensor  # (batch,) int64


class PaddedDataset(Dataset):
    """Sequences padded to a fixed width once, so that a batch is one tensor index.

    With ``trim`` a batch is cut to its longest member, dropping the columns that are padding in
    every row (the side given by ``padding``), so a bucketed batch of short newswires is narrow.
    """

    def __init__(
        self, sequences: Ragged, maxlen: int, padding: str = "pre", truncating: str = "pre", trim: bool = False
    ) -> None:
        ids, lengths = pad_sequences(sequences, maxlen, padding, truncating)
        self.tokens = torch.from_numpy(ids)
        self.lengths = torch.from_numpy(lengths)
        self.labels = torch.from_numpy(sequences.labels)
        self.padding = padding
        self.trim = trim

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Batch:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> Batch:
        """Batched fetch: the DataLoader hands the whole index list at once."""
        rows = torch.as_tensor(indices, dtype=torch.long)
        tokens, lengths = self.tokens[rows], self.lengths[rows]
        if self.trim:
            width = int(lengths.max())
            tokens = tokens[:, -width:] if self.padding == "pre" else tokens[:, :width]
        return Batch(tokens, lengths, self.labels[rows])


def keep_batch(batch: Batch) -> Batch:
    """Collate function for :class:`PaddedDataset`, whose fetch already returns a whole batch."""
    return batch


class BucketBatchSampler(BatchSampler):
    """Batches of similar length, so that trimmed batches carry little padding.

    The indices that ``sampler`` yields (shuffled for training) are cut into chunks of
    ``bucket_batches`` batches, each chunk is sorted by length and split into batches, and with
    ``shuffle`` the batch order is shuffled, so an epoch does not run from short to long.

    Under DDP Lightning rebuilds this sampler with a ``DistributedSampler`` as ``sampler`` (it records
    the init arguments), so each rank buckets only its own disjoint share of every epoch.

    Args:
        sampler: The indices to batch, e.g. ``RandomSampler`` for training, ``SequentialSampler`` for evaluation.
        lengths: Length of every sequence in the dataset, indexed like it.
        batch_size: Items per batch.
        drop_last: Drop the one short batch an epoch may end with.
        bucket_batches: Batches per sorted chunk: more means less padding and less randomness.
        shuffle: Shuffle the batch order (drawn from torch's global RNG, like ``RandomSampler``).
    """

    def __init__(
        self,
        sampler: Sampler[int] | Sized,
        lengths: Tensor,
        batch_size: int,
        drop_last: bool = False,
        bucket_batches: int = 50,
        shuffle: bool = True,
    ) -> None:
        super().__init__(sampler, batch_size, drop_last)
        if bucket_batches < 1:
            raise ValueError(f"bucket_batches must be >= 1, got {bucket_batches}")
        self.lengths = torch.as_tensor(lengths)
        self.bucket_batches = bucket_batches
        self.shuffle = shuffle

    def __iter__(self) -> Iterator[list[int]]:
        indices = torch.as_tensor(list(self.sampler), dtype=torch.long)
        batches: list[Tensor] = []
        for chunk in indices.split(self.batch_size * self.bucket_batches):
            ordered = chunk[torch.argsort(self.lengths[chunk], stable=True)]  # stable: ties keep the shuffle
            batches.extend(ordered.split(self.batch_size))
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()  # only the last chunk can end short: chunks are whole batches
        order = range(len(batches))
        if self.shuffle:
            generator = torch.Generator().manual_seed(int(torch.empty((), dtype=torch.int64).random_().item()))
            order = torch.randperm(len(batches), generator=generator).tolist()
        for position in order:
            yield batches[position].tolist()

    def __len__(self) -> int:
        count = len(self.sampler)
        return count // self.batch_size if self.drop_last else math.ceil(count / self.batch_size)
