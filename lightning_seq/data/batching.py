"""Batches of padded token ids: padded once, served by index, optionally bucketed by length and trimmed."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sized
from typing import NamedTuple

import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler

from lightning_seq.data.sequences import Ragged, pad_sequences


class Batch(NamedTuple):
    """What every dataloader yields; Lightning moves it to the device as a whole."""

    tokens: Tensor  # (batch, time) int64: each row's tokens first, then 0 = padding
    lengths: Tensor  # (batch,) int64, real tokens per row
    labels: Tensor  # (batch,) int64


class PaddedDataset(Dataset):
    """Sequences cut to ``maxlen`` and padded once, so that a batch is one tensor index.

    Each row holds its tokens first and padding (id 0) after: the model's input convention
    (:meth:`~lightning_seq.nn.classifier.RecurrentClassifier.forward`), which reads each sequence over its own
    tokens, so where the padding sits never changes a result. ``truncating`` says which end of a long
    sequence is cut (Keras's ``pre`` keeps the last ``maxlen`` tokens). With ``trim`` a batch is cut to
    its longest member, so a bucketed batch of short newswires is narrow.
    """

    def __init__(self, sequences: Ragged, maxlen: int, truncating: str = "pre", trim: bool = False) -> None:
        ids, lengths = pad_sequences(sequences, maxlen, "post", truncating)
        self.tokens = torch.from_numpy(ids)
        self.lengths = torch.from_numpy(lengths)
        self.labels = torch.from_numpy(sequences.labels)
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
            tokens = tokens[:, : int(lengths.max())]
        return Batch(tokens, lengths, self.labels[rows])


def keep_batch(batch: Batch) -> Batch:
    """Collate function for :class:`PaddedDataset`, whose fetch already returns a whole batch."""
    return batch


class BucketBatchSampler(BatchSampler):
    """Batches of similar length, so that trimmed batches carry little padding; resumable mid-epoch.

    The indices that ``sampler`` yields (shuffled for training) are cut into chunks of
    ``bucket_batches`` batches, each chunk is sorted by length and split into batches, and with
    ``shuffle`` the batch order is shuffled, so an epoch does not run from short to long. With
    ``sort_by_length=False`` batches keep the sampler's order (plain batching).

    Under DDP Lightning rebuilds this sampler with a ``DistributedSampler`` as ``sampler`` (it records
    the init arguments), so each rank buckets only its own disjoint share of every epoch.

    **Resuming.** The sampler counts the batches it hands out; with the DataLoader reading one batch at a
    time (``num_workers=0``, the default here) that is the number training consumed. :meth:`state_dict`
    records the epoch, its batches, that count, and torch's random state. After :meth:`load_state_dict`, an
    iteration in the same epoch serves that epoch's remaining batches and puts the random state back; an
    iteration in a later epoch puts the random state back and draws the new epoch as the uninterrupted run
    would have. Training then continues exactly as if never stopped, dropout included, provided that nothing
    else draws from torch's global generator between the two (give the DataLoader its own ``generator``, as
    :class:`ResumableDataLoader` does, or its iterator draws a seed there). Single process only: under DDP the
    state is not kept (each rank's order differs). Worker processes read batches ahead, so with
    ``num_workers > 0`` a resumed epoch skips the batches they had read ahead.

    Args:
        sampler: The indices to batch, e.g. ``RandomSampler`` for training, ``SequentialSampler`` for evaluation.
        lengths: Length of every sequence in the dataset, indexed like it.
        batch_size: Items per batch.
        drop_last: Drop the one short batch an epoch may end with.
        bucket_batches: Batches per sorted chunk: more means less padding and less randomness.
        shuffle: Shuffle the batch order (drawn from torch's global RNG, like ``RandomSampler``).
        sort_by_length: Sort each chunk by length (bucketing); ``False`` batches in the sampler's order.
        order_seed: With ``shuffle``, draw the batch order from this seed instead, the same every epoch: evaluation
            batches come mixed in length, so that ``limit_val_batches`` scores a fair sample, not the shortest wires.
    """

    def __init__(
        self,
        sampler: Sampler[int] | Sized,
        lengths: Tensor,
        batch_size: int,
        drop_last: bool = False,
        bucket_batches: int = 50,
        shuffle: bool = True,
        sort_by_length: bool = True,
        order_seed: int | None = None,
    ) -> None:
        super().__init__(sampler, batch_size, drop_last)
        if bucket_batches < 1:
            raise ValueError(f"bucket_batches must be >= 1, got {bucket_batches}")
        self.lengths = torch.as_tensor(lengths)
        self.bucket_batches = bucket_batches
        self.shuffle = shuffle
        self.sort_by_length = sort_by_length
        self.order_seed = order_seed
        self._epoch_batches: list[Tensor] = []  # the current epoch's batches, in serving order
        self._served = 0  # batches of the current epoch handed out, by this process or the one it resumes
        self._resume: dict | None = None

    def __iter__(self) -> Iterator[list[int]]:
        resume, self._resume = self._resume, None
        if resume is not None and int(resume["sizes"].sum()) != len(self.sampler):
            warnings.warn(
                f"the checkpoint's data position covers {int(resume['sizes'].sum())} training items but the data now "
                f"has {len(self.sampler)} (were the data settings changed?); its epoch starts afresh",
                stacklevel=2,
            )
            resume = None
        if resume is not None and resume["epoch"] == self.epoch:  # stopped inside this epoch
            self._epoch_batches = list(resume["indices"].split(resume["sizes"].tolist()))
            self._served = resume["consumed"]
            _set_random_state(resume)
        else:
            if resume is not None:  # stopped at an epoch's end: continue the random stream from there
                _set_random_state(resume)
            self._epoch_batches = self._draw_epoch()
            self._served = 0
        while self._served < len(self._epoch_batches):
            batch = self._epoch_batches[self._served]
            self._served += 1  # counted before it is handed out: a checkpoint taken after it includes it
            yield batch.tolist()

    def __len__(self) -> int:
        count = len(self.sampler)
        return count // self.batch_size if self.drop_last else math.ceil(count / self.batch_size)

    def state_dict(self) -> dict:
        """Where the current epoch stands (tensors and ints only, for ``torch.load(weights_only=True)``)."""
        if _distributed():
            return {}
        sizes = torch.tensor([len(batch) for batch in self._epoch_batches], dtype=torch.long)
        indices = torch.cat(self._epoch_batches) if self._epoch_batches else torch.zeros(0, dtype=torch.long)
        state = {"epoch": self.epoch, "indices": indices, "sizes": sizes, "consumed": self._served}
        return state | _random_state()

    def load_state_dict(self, state: dict) -> None:
        self._resume = state or None

    @property
    def epoch(self) -> int:
        """The epoch Lightning set on the index sampler (``set_epoch``); an epoch may end before its batches do."""
        return getattr(self.sampler, "epoch", 0)

    def _draw_epoch(self) -> list[Tensor]:
        indices = torch.as_tensor(list(self.sampler), dtype=torch.long)
        batches: list[Tensor] = []
        for chunk in indices.split(self.batch_size * self.bucket_batches):
            if self.sort_by_length:
                chunk = chunk[torch.argsort(self.lengths[chunk], stable=True)]  # stable: ties keep the shuffle
            batches.extend(chunk.split(self.batch_size))
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()  # only the last chunk can end short: chunks are whole batches
        if self.shuffle and self.order_seed is None:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            generator = torch.Generator().manual_seed(seed)
            batches = [batches[position] for position in torch.randperm(len(batches), generator=generator).tolist()]
        elif self.shuffle:  # a fixed order of the full batches; a short one stays last
            full = len(batches) - (1 if batches and len(batches[-1]) < self.batch_size else 0)
            order = torch.randperm(full, generator=torch.Generator().manual_seed(self.order_seed)).tolist()
            batches = [batches[position] for position in order] + batches[full:]
        return batches


class EpochRandomSampler(RandomSampler):
    """``RandomSampler`` that remembers the epoch Lightning sets, so that a resumed sampler knows where it is."""

    epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class ResumableDataLoader(DataLoader):
    """A DataLoader over a :class:`BucketBatchSampler` that Lightning checkpoints and restores mid-epoch.

    Lightning saves the ``state_dict`` of every training loader that has one with the fit loop's state, and
    hands it back to ``load_state_dict`` before iterating again after ``fit(ckpt_path=...)``. The loader's
    own ``generator`` (seeded from the global one once, when it is built) gives each iterator its worker
    seed, which would otherwise be drawn from torch's global generator and shift the random stream that
    the sampler restores.

    Kept instead of torchdata's ``StatefulDataLoader``: torchdata is in maintenance mode (it warns "'set_vital' is
    deprecated" under torch 2.13), and its state holds the sampler's position but not torch's random stream, which
    the bit-identical resume tests (dropout included) need.
    """

    def __init__(self, dataset: Dataset, batch_sampler: BucketBatchSampler, **kwargs: object) -> None:
        kwargs.setdefault("generator", torch.Generator().manual_seed(int(torch.randint(2**62, ()))))
        super().__init__(dataset, batch_sampler=batch_sampler, **kwargs)

    def state_dict(self) -> dict:
        return self.batch_sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.batch_sampler.load_state_dict(state)


def _distributed() -> bool:
    return (
        torch.distributed.is_available()
        and torch.distributed.is_initialized()
        and torch.distributed.get_world_size() > 1
    )


def _random_state() -> dict:
    state = {"torch_rng": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state


def _set_random_state(state: dict) -> None:
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
