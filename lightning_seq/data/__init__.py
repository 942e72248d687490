"""The bottom layer: Reuters files, token ids, batches and the DataModule. Imports no model code."""

from lightning_seq.data.datamodule import ReutersDataModule

__all__ = ["ReutersDataModule"]
