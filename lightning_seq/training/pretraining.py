"""Language-model pretraining of the classifier's encoder (Dai & Le 2015; Howard & Ruder's ULMFiT, 2018).

The embedding and recurrent encoder learn to predict each word of the training texts from the words before it,
and (bidirectional encoders) each word from the words after it: the forward direction's state at step ``t`` has
read tokens ``0..t`` and predicts token ``t + 1``; the backward direction's has read ``t..end`` and predicts
``t - 1``. That is exact for one bidirectional layer only: in a stacked one the second layer's forward direction
reads the first layer's backward states, which have seen the word it should predict, so those are refused.

The output layer over the whole vocabulary (31k words for Reuters) is an adaptive softmax
(``nn.AdaptiveLogSoftmaxWithLoss``, Grave et al. 2017): the frequent words (the vocabulary's ids are ordered
by frequency, for Reuters and for fitted vocabularies alike) get a full softmax, the rare ones smaller clusters.

Only the datamodule's training split is read (never validation or test texts). A classifier starts from the
encoder with ``model.encoder_checkpoint`` (:func:`load_pretrained_encoder`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from lightning_seq.checkpoint_file import read_checkpoint
from lightning_seq.constraints import Fraction, PositiveInt, check_ranges
from lightning_seq.data.batching import Batch
from lightning_seq.data.sequences import PAD_ID
from lightning_seq.errors import BadCheckpoint, BadValue
from lightning_seq.nn.classifier import Cell, RecurrentClassifier
from lightning_seq.nn.recurrent import RecurrentEncoder
from lightning_seq.training.optimization import optimizer_and_schedule

# The settings that shape the encoder's weights: a classifier starts from a pretrained encoder only if all agree.
ENCODER_SHAPE = ("vocab_size", "cell", "embedding_dim", "hidden_size", "num_layers", "bidirectional")
DIV_VALUE = 4.0  # each rarer cluster's vectors are this many times narrower
VOCABULARY_KEY = "vocabulary_sha1"  # in the checkpoint: which word each token id stood for


class LanguageModel(L.LightningModule):
    """Trains an embedding + recurrent encoder to predict the next (and, bidirectional, the previous) word.

    Logs ``train/loss`` and ``val/loss`` (mean negative log-likelihood per predicted word, nats) and
    ``val/perplexity``.

    Args:
        vocab_size: Linked from the DataModule by the CLI.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``: the classifier's.
        embedding_dim: The classifier's word-vector width.
        hidden_size: The classifier's state width per direction.
        num_layers: Stacked layers (one, if bidirectional).
        bidirectional: Also train the backward direction, to predict each previous word.
        embedding_dropout: Dropout on the word vectors.
        dropout: Dropout on the states before the output layer (and between stacked layers).
        cutoffs: The adaptive softmax's cluster boundaries, increasing and below ``vocab_size``: ids below the
            first get the full softmax; each following range is one cluster of rarer words.
        optimizer: Builds the optimizer (``torch.optim.AdamW`` by default).
        scheduler: An optional learning-rate scheduler; an unset ``total_steps`` gets the run's step count.
    """

    def __init__(
        self,
        vocab_size: int,
        cell: Cell = "gru",
        embedding_dim: PositiveInt = 128,
        hidden_size: PositiveInt = 64,
        num_layers: PositiveInt = 1,
        bidirectional: bool = True,
        embedding_dropout: Fraction = 0.1,
        dropout: Fraction = 0.1,
        cutoffs: list[PositiveInt] = [2000, 10000],  # noqa: B006  (a config default, never mutated)
        optimizer: OptimizerCallable = torch.optim.AdamW,
        scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__()
        sizes = {"embedding_dim": embedding_dim, "hidden_size": hidden_size, "num_layers": num_layers}
        check_ranges(LanguageModel.__init__, sizes | {"embedding_dropout": embedding_dropout, "dropout": dropout})
        if bidirectional and num_layers > 1:
            raise BadValue(
                f"num_layers {num_layers} with bidirectional: a stacked bidirectional encoder's upper layers read "
                "states that have seen the word to predict; pretrain a 1-layer bidirectional or a unidirectional one"
            )
        cutoffs = [int(cutoff) for cutoff in cutoffs]
        if not cutoffs or cutoffs != sorted(set(cutoffs)) or cutoffs[0] < 1 or cutoffs[-1] >= vocab_size - 1:
            raise BadValue(
                f"cutoffs {cutoffs} must be positive, increasing and below the vocabulary's {vocab_size} ids - 1; "
                f"set e.g. --model.cutoffs [{max(vocab_size // 10, 1)}]"
            )
        if hidden_size < DIV_VALUE ** len(cutoffs):
            raise BadValue(
                f"hidden_size {hidden_size} is too narrow for {len(cutoffs)} cutoffs: the rarest cluster's vectors are "
                f"hidden_size / {DIV_VALUE:g}^{len(cutoffs)} wide; use fewer cutoffs or a wider encoder"
            )
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.optimizer = optimizer
        self.scheduler = scheduler
        # Named as in RecurrentClassifier, so that the weights move over by name.
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.encoder = RecurrentEncoder(cell, embedding_dim, hidden_size, num_layers, bidirectional, dropout)
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.dropout = nn.Dropout(dropout)
        directions = ["next", "previous"] if bidirectional else ["next"]  # the word each direction predicts
        self.heads = nn.ModuleDict(
            {
                name: nn.AdaptiveLogSoftmaxWithLoss(hidden_size, vocab_size, cutoffs, div_value=DIV_VALUE)
                for name in directions
            }
        )
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)  # the classifier's initialisation
        with torch.no_grad():
            self.embedding.weight[PAD_ID].zero_()
        self.vocabulary_sha1: str | None = None  # from the datamodule in setup(); saved with each checkpoint

    def setup(self, stage: str) -> None:
        vocabulary = getattr(self.trainer.datamodule, "vocabulary", None)
        if vocabulary is not None:
            self.vocabulary_sha1 = vocabulary_digest(vocabulary)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[VOCABULARY_KEY] = self.vocabulary_sha1

    def log_likelihood(self, batch: Batch) -> tuple[Tensor, int]:
        """The summed negative log-likelihood of every predicted word in the batch, and how many there were."""
        tokens, lengths = batch.tokens, batch.lengths
        embedded = self.embedding_dropout(self.embedding(tokens))
        steps, _ = self.encoder(embedded, lengths, with_steps=True)
        steps = self.dropout(steps)
        positions = torch.arange(tokens.size(1), device=tokens.device).unsqueeze(0)
        hidden = self.hparams.hidden_size
        # forward: the state after token t predicts token t + 1, for t + 1 < length
        pairs = [("next", steps[:, :-1, :hidden], tokens[:, 1:], positions[:, 1:] < lengths.unsqueeze(1))]
        if self.hparams.bidirectional:  # backward: the state at token t (it has read t..end) predicts token t - 1
            pairs.append(("previous", steps[:, 1:, hidden:], tokens[:, :-1], positions[:, 1:] < lengths.unsqueeze(1)))
        total, count = steps.new_zeros(()), 0
        for name, states, targets, valid in pairs:
            output = self.heads[name](states[valid], targets[valid])
            total = total + output.loss * len(output.output)
            count += len(output.output)
        return total, count

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        total, count = self.log_likelihood(batch)
        loss = total / max(count, 1)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=count)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        total, count = self.log_likelihood(batch)
        self.log("val/loss", total / max(count, 1), prog_bar=True, batch_size=count)

    def on_validation_epoch_end(self) -> None:
        loss = self.trainer.callback_metrics.get("val/loss")
        if loss is not None:
            self.log("val/perplexity", math.exp(min(float(loss), 50.0)))

    def configure_optimizers(self) -> torch.optim.Optimizer | dict:
        return optimizer_and_schedule(self, self.optimizer, self.scheduler, [{"params": self.parameters()}])


def vocabulary_digest(vocabulary: Mapping[str, int]) -> str:
    """A fingerprint of which word each token id stands for."""
    items = "\n".join(f"{index}\t{word}" for word, index in sorted(vocabulary.items(), key=lambda item: item[1]))
    return hashlib.sha1(items.encode("utf-8")).hexdigest()


def check_encoder(path: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The checkpoint at ``path``, if it is a language model's whose encoder has ``settings``' sizes (those given).

    The fit's parser calls it too, so that a mismatch is refused before the run writes anything.
    """
    checkpoint = read_checkpoint(path)
    saved = checkpoint.get("hyper_parameters", {})
    if "cutoffs" not in saved:
        raise BadCheckpoint(f"{path} is not a language model's checkpoint; write one with `lightning-seq pretrain`")
    differ = [name for name in ENCODER_SHAPE if settings.get(name) is not None and saved.get(name) != settings[name]]
    if differ:
        theirs = ", ".join(f"{name}={saved.get(name)!r}" for name in differ)
        ours = ", ".join(f"{name}={settings[name]!r}" for name in differ)
        raise BadCheckpoint(
            f"the pretrained encoder {path} has {theirs}, but this model has {ours}; pretrain with the classifier's "
            "sizes and data settings (vocab_size follows data.num_words)"
        )
    return checkpoint


def load_pretrained_encoder(
    net: RecurrentClassifier, path: str, settings: Mapping[str, Any], vocabulary: Mapping[str, int] | None
) -> int:
    """Copy a :class:`LanguageModel` checkpoint's embedding and encoder into ``net``; returns the tensors copied.

    Refused in one line when the checkpoint is no language model, was built with other sizes, or read another
    vocabulary (the same ids standing for other words would make its vectors meaningless).
    """
    checkpoint = check_encoder(path, settings)
    saved_vocabulary = checkpoint.get(VOCABULARY_KEY)
    if vocabulary is not None and saved_vocabulary is not None and saved_vocabulary != vocabulary_digest(vocabulary):
        raise BadCheckpoint(
            f"the pretrained encoder {path} was trained on another vocabulary (the same ids stand for other words); "
            "pretrain on this run's training data and vocabulary settings"
        )
    state = {
        name: tensor
        for name, tensor in checkpoint["state_dict"].items()
        if name.startswith(("embedding.", "encoder.rnn."))
    }
    unexpected = net.load_state_dict(state, strict=False).unexpected_keys  # the rest of `net` keeps its initialisation
    if unexpected:
        raise BadCheckpoint(f"the pretrained encoder {path} holds tensors this model lacks: {', '.join(unexpected)}")
    return len(state)
