"""Batches of padded token ids: padded once, then served by index."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.utils.data import Dataset

from lightning_seq.encoding import Ragged, pad_sequences


class Batch(NamedTuple):
    """What every dataloader yields; Lightning moves it to the device as a whole."""

    tokens: Tensor  # (batch, time) int64, 0 = padding
    lengths: Tensor  # (batch,) int64, real tokens per row
    labels: Tensor  # (batch,) int64


class PaddedDataset(Dataset):
    """Sequences padded to a fixed width once, so that a batch is one tensor index."""

    def __init__(self, sequences: Ragged, maxlen: int, padding: str = "pre", truncating: str = "pre") -> None:
        ids, lengths = pad_sequences(sequences, maxlen, padding, truncating)
        self.tokens = torch.from_numpy(ids)
        self.lengths = torch.from_numpy(lengths)
        self.labels = torch.from_numpy(sequences.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Batch:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> Batch:
        """Batched fetch: the DataLoader hands the whole index list at once."""
        rows = torch.as_tensor(indices, dtype=torch.long)
        return Batch(self.tokens[rows], self.lengths[rows], self.labels[rows])


def keep_batch(batch: Batch) -> Batch:
    """Collate function for :class:`PaddedDataset`, whose fetch already returns a whole batch."""
    return batch
