"""Recurrent sequence classification on Reuters newswire topics with PyTorch Lightning."""

from lightning_seq.data import ReutersDataModule
from lightning_seq.embeddings import Coverage, embedding_matrix, read_vectors
from lightning_seq.model import RecurrentClassifier
from lightning_seq.module import SequenceClassifier
from lightning_seq.pooling import SequencePooling

__all__ = [
    "Coverage",
    "RecurrentClassifier",
    "ReutersDataModule",
    "SequenceClassifier",
    "SequencePooling",
    "embedding_matrix",
    "read_vectors",
]
__version__ = "0.1.0"
