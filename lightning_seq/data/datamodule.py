"""Reuters newswire topics as a LightningDataModule, split and encoded as Keras does."""

from __future__ import annotations

from typing import Literal

import lightning as L
import numpy as np
from lightning.pytorch.accelerators import CUDAAccelerator
from torch.utils.data import DataLoader, SequentialSampler

from lightning_seq.constraints import Fraction, NonNegativeInt, PositiveInt, VocabularyWords, check_ranges
from lightning_seq.data import reuters
from lightning_seq.data.batching import (
    BucketBatchSampler,
    EpochRandomSampler,
    PaddedDataset,
    ResumableDataLoader,
    keep_batch,
)
from lightning_seq.data.sequences import INDEX_FROM, Ragged, keras_encode

Side = Literal["pre", "post"]


class PaddedBatchesDataModule(L.LightningDataModule):
    """The loaders every DataModule here shares: padded datasets in ``self.datasets`` ("train", "val", "test"),
    served bucketed, resumable mid-epoch (see :class:`BucketBatchSampler`), pinned on CUDA.

    Subclasses fill ``self.datasets`` in ``setup`` and have the hyperparameters ``batch_size``, ``bucketing``,
    ``bucket_batches``, ``num_workers`` and ``pin_memory``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.datasets: dict[str, PaddedDataset] = {}
        self._train_loader: ResumableDataLoader | None = None
        self._train_position: dict | None = None  # from a checkpoint, for the next training loader

    @property
    def multi_label(self) -> bool:
        """Whether an item may carry several labels (a multi-hot row) instead of one class id."""
        return False

    @property
    def label_names(self) -> tuple[str, ...]:
        """Class ``i``'s name is ``label_names[i]``."""
        raise NotImplementedError

    @property
    def topic_names(self) -> tuple[str, ...]:
        """The label names under the name the reports and older callers use."""
        return self.label_names

    def label_counts(self) -> np.ndarray:
        """Training items per class (after ``setup("fit")``): what ``class_weights: balanced`` divides by."""
        if "train" not in self.datasets:
            raise RuntimeError("call setup('fit') before asking for the training label counts")
        labels = self.datasets["train"].labels.numpy()
        if labels.ndim == 2:
            return labels.sum(axis=0).astype(np.int64)
        return np.bincount(labels, minlength=len(self.label_names))

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader("val", shuffle=False) if "val" in self.datasets else []

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        """The test split in its own order (not bucketed), so predictions line up with the items."""
        return self._loader("test", shuffle=False, bucket=False)

    def state_dict(self) -> dict:
        """Where training stands in the data and in torch's random stream (see :class:`BucketBatchSampler`).

        The training loader is stateful too, but Lightning restores loaders only when it restarts inside an
        epoch; kept here as well, an epoch-end checkpoint also resumes the random stream exactly.
        """
        position = self._train_loader.state_dict() if self._train_loader is not None else {}
        return {"train_position": position} if position else {}

    def load_state_dict(self, state_dict: dict) -> None:
        self._train_position = state_dict.get("train_position")

    def _loader(self, split: str, shuffle: bool, bucket: bool = True) -> DataLoader:
        if split not in self.datasets:
            raise RuntimeError(f"call setup() before asking for the {split} dataloader")
        dataset, hp = self.datasets[split], self.hparams
        common = {
            "collate_fn": keep_batch,
            "num_workers": hp.num_workers,
            "persistent_workers": hp.num_workers > 0,
            "pin_memory": self._on_cuda() if hp.pin_memory is None else hp.pin_memory,
        }
        if shuffle:  # training: resumable mid-epoch (see BucketBatchSampler), bucketed or plain
            sort = hp.bucketing and bucket
            batches = BucketBatchSampler(
                EpochRandomSampler(dataset), dataset.lengths, hp.batch_size, False, hp.bucket_batches, sort, sort
            )
            if self._train_position:
                batches.load_state_dict(self._train_position)
                self._train_position = None
            self._train_loader = ResumableDataLoader(dataset, batch_sampler=batches, **common)
            return self._train_loader
        if not (hp.bucketing and bucket):
            return DataLoader(dataset, batch_size=hp.batch_size, shuffle=False, **common)
        # Bucketed, in a fixed mixed order: a length-sorted split would put only the shortest wires first.
        batches = BucketBatchSampler(
            SequentialSampler(dataset), dataset.lengths, hp.batch_size, False, hp.bucket_batches, True, order_seed=0
        )
        return DataLoader(dataset, batch_sampler=batches, **common)

    def _on_cuda(self) -> bool:
        trainer = self.trainer  # None outside a Trainer
        return trainer is not None and isinstance(trainer.accelerator, CUDAAccelerator)


class ReutersDataModule(PaddedBatchesDataModule):
    """Downloads (hash-verified), caches, splits and pads Reuters into batches.

    Args:
        data_dir: Directory holding ``reuters.npz`` and ``reuters_word_index.json``; defaults to
            ``$LIGHTNING_SEQ_DATA``, else the user cache's ``data/`` (``~/.cache/lightning_seq/data`` on Linux).
            Missing files are downloaded there.
        cache_dir: Where the pickle-free cache is written; defaults to ``$LIGHTNING_SEQ_CACHE``,
            else the user cache (``~/.cache/lightning_seq`` on Linux).
        download: Download missing files; switch off to fail fast when offline.
        num_words: Keep the ``num_words - 3`` most frequent words, the rest become OOV (id 2).
            ``None`` keeps all 30,979 words.
        skip_top: Map ids below this to OOV (Keras semantics: it also applies to the start token).
        maxlen: Width every sequence is padded or truncated to.
        truncating: Side tokens are cut from when too long (Keras default ``pre``: keep the last ``maxlen``).
        val_split: Fraction of the 8,982 training items held out for validation, drawn with ``val_seed``.
        val_seed: Seed of the validation draw; independent of the training seed.
        seed: Keras's shuffle seed for the train/test split; 113 reproduces ``load_data()``.
        batch_size: Items per batch.
        bucketing: Batch newswires of similar length together and trim each batch to its longest
            member (~1.7x faster on CPU, same accuracy); ``False`` gives the seed's fixed-width batches.
        bucket_batches: With bucketing, how many batches' worth of shuffled items are sorted together.
        num_workers: DataLoader workers; 0 is fastest here, the data is an in-memory tensor.
        pin_memory: Page-locked batches for asynchronous GPU copies; ``None`` pins when the Trainer runs on CUDA.
    """

    def __init__(
        self,
        data_dir: str | None = None,
        cache_dir: str | None = None,
        download: bool = True,
        num_words: VocabularyWords | None = None,
        skip_top: NonNegativeInt = 0,
        maxlen: PositiveInt = 200,
        truncating: Side = "pre",
        val_split: Fraction = 0.2,
        val_seed: int = 0,
        seed: int = 113,
        batch_size: PositiveInt = 128,
        bucketing: bool = True,
        bucket_batches: PositiveInt = 50,
        num_workers: NonNegativeInt = 0,
        pin_memory: bool | None = None,
    ) -> None:
        super().__init__()
        check_ranges(ReutersDataModule.__init__, locals())
        self.save_hyperparameters()
        self._word_index: dict[str, int] | None = None

    @property
    def vocab_size(self) -> int:
        """Rows the embedding needs: every id in the batches is below this."""
        return self.hparams.num_words or reuters.FULL_VOCAB_SIZE

    @property
    def num_classes(self) -> int:
        return reuters.NUM_CLASSES

    @property
    def label_names(self) -> tuple[str, ...]:
        return reuters.TOPICS

    @property
    def word_index(self) -> dict[str, int]:
        """Keras's word -> raw id map; encoded ids are these values + 3."""
        if self._word_index is None:
            self._word_index = reuters.load_word_index(self.hparams.data_dir, self.hparams.download)
        return self._word_index

    @property
    def vocabulary(self) -> dict[str, int]:
        """Word -> token id, for exactly the words the encoding keeps (``num_words``, ``skip_top``)."""
        keep = range(max(INDEX_FROM, self.hparams.skip_top), self.vocab_size)
        return {word: rank + INDEX_FROM for word, rank in self.word_index.items() if rank + INDEX_FROM in keep}

    def prepare_data(self) -> None:
        self._load_raw()

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        train, test = self.splits()
        hp = self.hparams
        pad = {"maxlen": hp.maxlen, "truncating": hp.truncating, "trim": hp.bucketing}
        train, val = _holdout(train, hp.val_split, hp.val_seed)
        self.datasets = {"train": PaddedDataset(train, **pad), "test": PaddedDataset(test, **pad)}
        if val is not None:
            self.datasets["val"] = PaddedDataset(val, **pad)

    def splits(self) -> tuple[Ragged, Ragged]:
        """Keras's (train, test) split, encoded but not padded."""
        hp = self.hparams
        return keras_encode(self._load_raw(), hp.num_words, hp.skip_top, hp.seed)

    def _load_raw(self) -> Ragged:
        return reuters.load_raw(self.hparams.data_dir, self.hparams.cache_dir, self.hparams.download)


def holdout_indices(items: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, held out)`` row indices, each sorted: the validation draw every model here is chosen on."""
    order = np.random.default_rng(seed).permutation(items)
    n_val = round(items * fraction)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _holdout(train: Ragged, fraction: float, seed: int) -> tuple[Ragged, Ragged | None]:
    """A seeded random validation draw (Keras's ``validation_split`` would take the last rows)."""
    if fraction == 0:
        return train, None
    kept, held_out = holdout_indices(len(train), fraction, seed)
    return train.select(kept), train.select(held_out)
