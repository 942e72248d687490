"""Recurrent sequence classification on Reuters newswire topics with PyTorch Lightning."""

from lightning_seq.data import ReutersDataModule
from lightning_seq.embeddings import Coverage, embedding_matrix, read_vectors
from lightning_seq.model import RecurrentClassifier
from lightning_seq.module import SequenceClassifier
from lightning_seq.pooling import SequencePooling
from lightning_seq.predict import TopicPrediction, TopicPredictor, predict_topics
from lightning_seq.report import ClassificationReport, classification_report
from lightning_seq.text import TextEncoder

__all__ = [
    "ClassificationReport",
    "Coverage",
    "RecurrentClassifier",
    "ReutersDataModule",
    "SequenceClassifier",
    "SequencePooling",
    "TextEncoder",
    "TopicPrediction",
    "TopicPredictor",
    "classification_report",
    "embedding_matrix",
    "predict_topics",
    "read_vectors",
]
__version__ = "0.1.0"
