"""Recurrent sequence classification on Reuters newswire topics with PyTorch Lightning."""

from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.data.text_datamodule import TextFilesDataModule
from lightning_seq.data.tokenizer import WordTokenizer
from lightning_seq.inference.predictor import TopicPrediction, TopicPredictor, predict_topics
from lightning_seq.nn.classifier import RecurrentClassifier
from lightning_seq.nn.embeddings import Coverage, embedding_matrix, read_vectors
from lightning_seq.nn.pooling import SequencePooling
from lightning_seq.reporting.report import ClassificationReport, classification_report
from lightning_seq.training.module import SequenceClassifier

__all__ = [
    "ClassificationReport",
    "Coverage",
    "RecurrentClassifier",
    "ReutersDataModule",
    "SequenceClassifier",
    "SequencePooling",
    "TextEncoder",
    "TextFilesDataModule",
    "TopicPrediction",
    "TopicPredictor",
    "WordTokenizer",
    "classification_report",
    "embedding_matrix",
    "predict_topics",
    "read_vectors",
]
TextEncoder = WordTokenizer  # its name until the redesign (it collided with the recurrent encoder), kept for callers
__version__ = "0.1.0"
