"""Recurrent sequence classification on Reuters newswire topics with PyTorch Lightning."""

from lightning_seq.data import ReutersDataModule
from lightning_seq.model import RecurrentClassifier
from lightning_seq.module import SequenceClassifier

__all__ = ["RecurrentClassifier", "ReutersDataModule", "SequenceClassifier"]
__version__ = "0.1.0"
