"""The bottom layer: Reuters and the user's text files, token ids, batches, the DataModules. Imports no model code."""

from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.data.text_datamodule import TextFilesDataModule

__all__ = ["ReutersDataModule", "TextFilesDataModule"]
