"""Plain PyTorch networks (no Lightning): the recurrent stack, pooling, the classifier, pretrained vectors."""

from lightning_seq.nn.classifier import RecurrentClassifier
from lightning_seq.nn.pooling import SequencePooling

__all__ = ["RecurrentClassifier", "SequencePooling"]
