"""The LightningModule: training, evaluation, metrics and the optimizer around the classifier."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.plugins import MixedPrecision
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor
from torch.nn import functional as F
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MultilabelExactMatch,
    MultilabelF1Score,
)

from lightning_seq.checkpoint_file import read_checkpoint
from lightning_seq.constraints import Fraction, NonNegativeInt, PositiveFloat, PositiveInt, check_ranges
from lightning_seq.data.batching import Batch
from lightning_seq.errors import BadCheckpoint, BadValue, TrainingDiverged
from lightning_seq.nn.classifier import Cell, Pooling, RecurrentClassifier, VariableLength
from lightning_seq.nn.embeddings import Coverage, VectorFormat, embedding_matrix
from lightning_seq.training.distillation import (
    TeacherTargets,
    check_teacher_encodings,
    distillation_loss,
    load_teachers,
)
from lightning_seq.training.optimization import discriminative_groups, optimizer_and_schedule, unfreeze_top_groups
from lightning_seq.training.pretraining import load_pretrained_encoder
from lightning_seq.training.thresholds import ThresholdSweep, decide

# The hyperparameters that shape the weights: a checkpoint only fits a model that agrees on all of them.
ARCHITECTURE = (
    "vocab_size", "num_classes", "cell", "embedding_dim", "hidden_size", "num_layers", "bidirectional", "pooling",
    "label_mode", "ngram_order", "ngram_buckets", "ngram_width",
)  # fmt: skip
LabelMode = Literal["single", "multi"]
ClassWeights = Literal["none", "balanced", "sqrt_balanced"] | dict[str, float]


_FIX = "use the checkpoint's settings (its run's config.yaml has them) or start a new run without --ckpt_path"


def architecture_mismatch(saved: Mapping[str, Any], ours: Mapping[str, Any]) -> str | None:
    """What differs between a checkpoint's architecture and ``ours`` (settings absent from either are not compared)."""
    differ = [name for name in ARCHITECTURE if name in saved and name in ours and saved[name] != ours[name]]
    if not differ:
        return None
    theirs = ", ".join(f"{name}={saved[name]!r}" for name in differ)
    mine = ", ".join(f"{name}={ours[name]!r}" for name in differ)
    hint = " (vocab_size follows data.num_words)" if "vocab_size" in differ else ""
    return f"the checkpoint was trained with {theirs}, but this model has {mine}{hint}; {_FIX}"


class SequenceClassifier(L.LightningModule):
    """Trains a :class:`RecurrentClassifier`; logs loss, accuracy and macro-F1 under ``train/``, ``val/``, ``test/``.

    Args:
        vocab_size: Linked from the DataModule by the CLI; never typed by hand there.
        num_classes: Linked from the DataModule by the CLI.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        embedding_dim: Width of the word vectors.
        hidden_size: Width of the recurrent state, per direction.
        num_layers: Stacked recurrent layers.
        bidirectional: Read each sequence in both directions.
        dropout: Dropout between stacked layers and before the head.
        embedding_dropout: Dropout on the word vectors.
        pooling: ``"last"``, ``"mean"``, ``"max"`` or ``"attention"`` (see :mod:`lightning_seq.nn.pooling`).
        label_smoothing: Label smoothing of the training loss (validation and test losses stay plain).
        variable_length: How padding is kept out of the result: ``"auto"`` (mask on CPU, pack on GPU:
            the faster of two exact ways on each), ``"pack"`` or ``"mask"``.
        optimizer: Builds the optimizer from the parameters; in a config a class path with its
            init args (``torch.optim.Adam`` with ``lr: 0.001`` by default, as in Keras).
        scheduler: Builds a learning-rate scheduler from the optimizer, e.g. ``torch.optim.lr_scheduler.OneCycleLR``
            with ``max_lr``; an unset ``total_steps`` is filled in with the run's number of optimizer steps.
        scheduler_interval: Step the scheduler every optimizer ``step`` or every ``epoch``.
        embeddings: A GloVe or word2vec file (see :mod:`lightning_seq.nn.embeddings`) whose vectors
            initialise the word embeddings when fitting starts; its dimension must equal ``embedding_dim``.
        embeddings_format: ``"auto"`` (from the name and first line), ``"glove"``, ``"word2vec"``
            or ``"word2vec-binary"``.
        freeze_embeddings: Keep the pretrained vectors fixed instead of fine-tuning them.
        label_mode: ``single`` (one class per item: softmax, cross-entropy) or ``multi`` (independent sigmoid
            outputs trained with binary cross-entropy: an item may carry several labels); the CLI sets it from the
            DataModule's ``multi_label``. Each label is predicted above a threshold chosen on
            validation at every validation (the best micro-F1 over 0.05..0.95), so every checkpoint carries its own.
        per_label_thresholds: Multi-label: each label gets the threshold with its own best validation F1 instead of
            the global one.
        class_weights: Weights of the classes in the training loss (validation and test losses stay plain):
            ``none``, ``balanced`` (``items / (classes * items of the class)``, as scikit-learn), ``sqrt_balanced``
            (its square root: rare classes count more, without weights in the hundreds), or ``{label name: weight}``
            (unnamed labels weigh 1).
        at_least_one_label: Multi-label: an item where no label clears its threshold gets its most probable label
            (every training item has one); the thresholds are chosen with this rule in force.
        multi_label_loss: Multi-label: ``bce`` (independent sigmoid outputs, binary cross-entropy) or ``softmax``
            (one softmax, cross-entropy against the item's labels sharing the target mass equally; Mahajan et al.
            2018): the labels then compete as in single-label training, and the thresholds apply to the softmax
            probabilities.
        ngram_order: The wide branch (:mod:`lightning_seq.nn.ngrams`): 0 (off, the seed presets'), 1 a bag of
            words, 2 words and hashed bigrams, ... joined to the pooled recurrent state before the head.
        ngram_buckets: Hashed rows shared by the n-grams longer than a word.
        ngram_width: Width of the n-gram vector.
        teachers: Checkpoints (of the same vocabulary and labels) to distil: the training loss adds their mean
            probability at ``distill_temperature`` as a soft target (:mod:`lightning_seq.training.distillation`);
            they read the training items once, when the fit starts. Single-label only.
        distill_temperature: Softens the teachers' and the student's distributions in the distillation term.
        distill_weight: The distillation term's share of the training loss; the hard labels get the rest.
        encoder_checkpoint: A language model's checkpoint (``lightning-seq pretrain``, of the same sizes and
            vocabulary) whose word embedding and recurrent encoder start a fresh fit
            (:mod:`lightning_seq.training.pretraining`); the head and the n-gram branch start from scratch.
        layer_lr_decay: Discriminative learning rates (ULMFiT's 2.6): each layer group below the head (recurrent
            layers top down, then the word embedding) learns this many times slower than the one above it; 1 = one
            rate for all (:mod:`lightning_seq.training.optimization`).
        unfreeze_every: Gradual unfreezing: 0 trains everything from the start; ``k`` trains the head alone for
            ``k`` epochs, then adds one layer group (downwards) every ``k`` epochs (ULMFiT's is 1).
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        cell: Cell = "lstm",
        embedding_dim: PositiveInt = 128,
        hidden_size: PositiveInt = 64,
        num_layers: PositiveInt = 1,
        bidirectional: bool = False,
        dropout: Fraction = 0.0,
        embedding_dropout: Fraction = 0.0,
        pooling: Pooling = "last",
        label_smoothing: Fraction = 0.0,
        variable_length: VariableLength = "auto",
        optimizer: OptimizerCallable = torch.optim.Adam,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: Literal["step", "epoch"] = "step",
        embeddings: str | None = None,
        embeddings_format: VectorFormat = "auto",
        freeze_embeddings: bool = False,
        label_mode: LabelMode = "single",
        per_label_thresholds: bool = False,
        class_weights: ClassWeights = "none",
        at_least_one_label: bool = True,
        multi_label_loss: Literal["bce", "softmax"] = "bce",
        ngram_order: NonNegativeInt = 0,
        ngram_buckets: PositiveInt = 200_000,
        ngram_width: PositiveInt = 64,
        teachers: list[str] | None = None,
        distill_temperature: PositiveFloat = 2.0,
        distill_weight: Fraction = 0.5,
        encoder_checkpoint: str | None = None,
        layer_lr_decay: PositiveFloat = 1.0,
        unfreeze_every: NonNegativeInt = 0,
    ) -> None:
        super().__init__()
        settings = {"label_smoothing": label_smoothing, "distill_temperature": distill_temperature}
        settings |= {"distill_weight": distill_weight, "layer_lr_decay": layer_lr_decay}
        check_ranges(SequenceClassifier.__init__, settings | {"unfreeze_every": unfreeze_every})  # net: the rest
        if teachers and label_mode == "multi":
            raise BadValue("teachers: distillation is single-label only; train a multi-label model without teachers")
        if isinstance(class_weights, dict) and not all(weight >= 0 for weight in class_weights.values()):
            raise BadValue(f"class_weights must be >= 0, got {class_weights}")
        # The optimizer factory stays out of the checkpoint so that checkpoints load with
        # torch.load(weights_only=True); the run's config.yaml records which optimizer was used.
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.net = RecurrentClassifier(
            vocab_size,
            num_classes,
            cell=cell,
            embedding_dim=embedding_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            embedding_dropout=embedding_dropout,
            pooling=pooling,
            variable_length=variable_length,
            ngram_order=ngram_order,
            ngram_buckets=ngram_buckets,
            ngram_width=ngram_width,
        )
        if freeze_embeddings and not embeddings:
            raise BadValue("freeze_embeddings needs pretrained vectors: set embeddings to a GloVe or word2vec file")
        self.net.embedding.weight.requires_grad_(not freeze_embeddings)
        self.embedding_coverage: Coverage | None = None
        # Set by the CLI when a fit resumes from --ckpt_path: its weights come from there, so the files its
        # hyperparameters name (word vectors, an encoder) are not read; that checkpoint may be a stranger's.
        # Lightning sets ``trainer.ckpt_path`` only after ``setup``, where these files are read.
        self.resuming = False
        # Read by Lightning's ThroughputMonitor; unknown, since a recurrent step's cost follows each batch's width.
        self.flops_per_batch: int | None = None
        self.optimizer = optimizer
        self.scheduler = scheduler
        if label_mode == "multi":
            # the decision thresholds: in the state_dict, so that each checkpoint keeps the ones chosen for it
            self.register_buffer("thresholds", torch.full((num_classes,), 0.5))
            metrics = MetricCollection(
                {
                    "acc": MultilabelExactMatch(num_classes),  # subset accuracy: every label of the item right
                    "f1_micro": MultilabelF1Score(num_classes, average="micro"),
                    "f1_macro": MultilabelF1Score(num_classes, average="macro"),
                }
            )
            self.threshold_sweep = ThresholdSweep(num_classes, at_least_one=at_least_one_label)
        else:
            metrics = MetricCollection(
                {
                    # torchmetrics' multiclass accuracy averages per class by default; "micro" is plain accuracy.
                    "acc": MulticlassAccuracy(num_classes, average="micro"),
                    "f1_macro": MulticlassF1Score(num_classes, average="macro"),
                }
            )
        self.train_metrics = metrics.clone(prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.loss_weights: Tensor | None = None  # class_weights as a tensor, from the training data in setup()
        self.teacher_targets: TeacherTargets | None = None  # the teachers' soft targets, from setup("fit")
        # Epoch losses are torchmetrics means too (weighted by batch size), for the reason in _log_epoch_metrics.
        # nan_strategy "disable": a NaN loss shows in the epoch mean instead of being dropped with a warning
        self.train_loss, self.val_loss, self.test_loss = (MeanMetric(nan_strategy="disable") for _ in range(3))
        self._stage_metrics = {  # a plain dict: the metrics are registered once, as the attributes above
            "train": (self.train_loss, self.train_metrics),
            "val": (self.val_loss, self.val_metrics),
            "test": (self.test_loss, self.test_metrics),
        }

    @property
    def multi_label(self) -> bool:
        return self.hparams.get("label_mode", "single") == "multi"

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """Logits for a batch in the DataModule's layout: each row's ``lengths[i]`` tokens first, then padding."""
        return self.net(tokens, lengths)

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.hparams.class_weights != "none":
            datamodule = self.trainer.datamodule
            self.loss_weights = class_weight_tensor(
                self.hparams.class_weights, datamodule.label_counts(), datamodule.label_names
            ).to(self.device)
            low, high = float(self.loss_weights.min()), float(self.loss_weights.max())
            rank_zero_info(f"Class weights in the training loss: from {low:.3g} to {high:.3g}")
        if stage == "fit" and self.hparams.get("teachers") and self.teacher_targets is None:
            self.teacher_targets = self._read_teachers()
        # A resumed fit restores its tuned weights from its own checkpoint, after setup.
        if stage == "fit" and self.hparams.get("encoder_checkpoint") and not self.resuming:
            path = self.hparams.encoder_checkpoint
            vocabulary = getattr(self.trainer.datamodule, "vocabulary", None)
            copied = load_pretrained_encoder(self.net, path, self.hparams, vocabulary)
            rank_zero_info(f"Pretrained encoder from {path}: {copied} tensors (word embedding and recurrent layers)")
        # Only a fresh fit reads the vectors; a resumed fit restores its tuned weights from the checkpoint afterwards.
        if stage == "fit" and self.hparams.embeddings and self.embedding_coverage is None and not self.resuming:
            vocabulary = getattr(self.trainer.datamodule, "vocabulary", None)
            if vocabulary is None:
                raise ValueError("pretrained embeddings need a datamodule with a `vocabulary` (word -> token id)")
            self.load_embeddings(vocabulary)

    def _read_teachers(self) -> TeacherTargets:
        hp = self.hparams

        def load(path: str) -> SequenceClassifier:
            read_checkpoint(path)  # one line for a missing or foreign file
            return SequenceClassifier.load_from_checkpoint(path, map_location="cpu", weights_only=True)

        teachers = load_teachers(hp.teachers, load, hp.vocab_size, hp.num_classes)
        check_teacher_encodings(hp.teachers, self.trainer.datamodule)
        train = self.trainer.datamodule.datasets["train"]
        started = time.perf_counter()
        targets = TeacherTargets.from_teachers(teachers, train.tokens, train.lengths, hp.distill_temperature)
        agreement = float((targets.targets.argmax(dim=1) == train.labels).float().mean())
        rank_zero_info(
            f"Distilling {len(teachers)} teacher(s) at temperature {hp.distill_temperature}, weight "
            f"{hp.distill_weight}: their soft targets for {len(train):,} training items took "
            f"{time.perf_counter() - started:.1f} s (they agree with {agreement:.1%} of the labels)"
        )
        return targets

    def load_embeddings(self, vocabulary: Mapping[str, int]) -> Coverage:
        """Copy the ``embeddings`` file's vectors into the word embeddings; says and returns the coverage."""
        hp = self.hparams
        matrix, coverage = embedding_matrix(
            hp.embeddings, vocabulary, hp.vocab_size, hp.embedding_dim, hp.embeddings_format
        )
        with torch.no_grad():
            self.net.embedding.weight.copy_(matrix)
        rank_zero_info(f"Pretrained embeddings from {hp.embeddings}: {coverage}")
        self.embedding_coverage = coverage
        return coverage

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = self._evaluate(batch, "train")[0]
        if not torch.isfinite(loss):  # stop before the optimizer step writes NaN into the weights
            raise TrainingDiverged(self._non_finite_message(loss, batch_idx))
        return loss

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.check_checkpoint(checkpoint)

    def check_checkpoint(self, checkpoint: Mapping[str, Any]) -> None:
        """Refuse, by name, a checkpoint whose weights have other shapes or meaning than this model's."""
        mismatch = architecture_mismatch(checkpoint.get("hyper_parameters", {}), self.hparams)
        if mismatch:
            raise BadCheckpoint(mismatch)
        ours = self.state_dict()
        for name, tensor in checkpoint.get("state_dict", {}).items():  # e.g. settings overridden at load time
            if name in ours and tensor.shape != ours[name].shape:
                raise BadCheckpoint(
                    f"the checkpoint's {name} has shape {tuple(tensor.shape)}, this model's {tuple(ours[name].shape)}: "
                    f"it was trained with other sizes ({', '.join(ARCHITECTURE)}); {_FIX}"
                )

    def _non_finite_message(self, loss: Tensor, batch_idx: int) -> str:
        last = [cb.last_model_path for cb in self.trainer.checkpoint_callbacks if getattr(cb, "last_model_path", "")]
        kept = f"the last good checkpoint is {last[-1]}" if last else "no checkpoint was saved yet"
        return (
            f"training loss is {loss.item()} at global step {self.global_step} (epoch {self.current_epoch}, "
            f"batch {batch_idx}); training stopped before that step changed the weights, and {kept}. Lower "
            "model.optimizer.init_args.lr, set trainer.gradient_clip_val, or train in 32-true precision, then "
            "resume with --ckpt_path last"
        )

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """Returns the logits, for callbacks such as :class:`~lightning_seq.training.callbacks.TestReport`."""
        return self._evaluate(batch, "test")[1]

    def predict_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """Class probabilities (independent per label for multi-label)."""
        return self.probabilities(self(batch.tokens, batch.lengths))

    def probabilities(self, logits: Tensor) -> Tensor:
        independent = self.multi_label and self.hparams.get("multi_label_loss", "bce") == "bce"
        return logits.sigmoid() if independent else logits.softmax(dim=-1)

    def decisions(self, logits: Tensor) -> Tensor:
        """Multi-label: 0/1 per label, at or above each label's threshold (at least one, unless switched off)."""
        return decide(self.probabilities(logits), self.thresholds, self.hparams.get("at_least_one_label", True)).int()

    def configure_optimizers(self) -> torch.optim.Optimizer | dict:
        decay = self.hparams.get("layer_lr_decay", 1.0)
        groups = discriminative_groups(self.net, decay) if decay != 1.0 else [{"params": self.parameters()}]
        return optimizer_and_schedule(self, self.optimizer, self.scheduler, groups, self.hparams.scheduler_interval)

    def on_train_epoch_start(self) -> None:
        every = self.hparams.get("unfreeze_every", 0)
        if every:
            frozen = {id(self.net.embedding.weight)} if self.hparams.freeze_embeddings else set()
            trainable = unfreeze_top_groups(self.net, self.current_epoch, every, frozen)
            rank_zero_info(
                f"Gradual unfreezing: epoch {self.current_epoch + 1} trains the top {trainable} layer group(s)"
            )

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clips bf16-mixed runs here: Lightning refuses to clip for any fused optimizer under mixed precision
        (Lightning-AI/pytorch-lightning#21435), though bf16 has no loss scale to undo, and a fused AdamW's step is
        5.7x faster on CPU (docs/results.md). Other precisions go through Lightning's own clipping."""
        plugin = self.trainer.precision_plugin
        if not gradient_clip_val or not isinstance(plugin, MixedPrecision) or plugin.scaler is not None:
            super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)
            return
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        if gradient_clip_algorithm == "value":
            torch.nn.utils.clip_grad_value_(parameters, gradient_clip_val)
        else:
            torch.nn.utils.clip_grad_norm_(parameters, gradient_clip_val)

    def on_train_epoch_end(self) -> None:
        self._log_epoch_metrics("train", prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        if not self.multi_label:
            self._log_epoch_metrics("val", prog_bar=True)
            return
        # Multi-label: this epoch's thresholds are chosen on this validation, and its metrics reported at them.
        choice = self.threshold_sweep.compute()
        self.threshold_sweep.reset()
        self.val_metrics.reset()
        self.thresholds.copy_(choice["per_label"] if self.hparams.per_label_thresholds else choice["threshold"])
        values = {"val/acc": choice["subset_accuracy"], "val/f1_micro": choice["f1_micro"]}
        values["val/f1_macro"] = choice["f1_macro"]
        self.log_dict({"val/loss": self.val_loss.compute(), **values}, prog_bar=True)
        self.log("val/threshold", choice["threshold"])
        self.val_loss.reset()

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics("test")

    def _evaluate(self, batch: Batch, stage: str) -> tuple[Tensor, Tensor]:
        """``(loss, logits)``; accumulates the epoch's loss and metrics, logged once in the epoch-end hooks."""
        logits = self(batch.tokens, batch.lengths)
        training = stage == "train"
        smoothing = self.hparams.label_smoothing if training else 0.0
        weights = self.loss_weights if training else None
        if self.multi_label and self.hparams.get("multi_label_loss", "bce") == "softmax":
            target = batch.labels.float() / batch.labels.sum(dim=1, keepdim=True).clamp(min=1)
            target = target * (1 - smoothing) + smoothing / target.shape[1]
            loss = F.cross_entropy(logits, target, weight=weights)
        elif self.multi_label:
            target = batch.labels.float() * (1 - smoothing) + smoothing / 2
            loss = F.binary_cross_entropy_with_logits(logits, target, weight=weights)
        else:
            loss = F.cross_entropy(logits, batch.labels, weight=weights, label_smoothing=smoothing)
        if training and self.teacher_targets is not None:
            soft = self.teacher_targets.lookup(batch.tokens, batch.lengths)
            share = self.hparams.distill_weight
            loss = (1 - share) * loss + share * distillation_loss(logits, soft, self.hparams.distill_temperature)
        size = len(batch.labels)
        if stage == "train":  # this process's batch loss, for the progress bar and the step curve: no collective
            self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=size)
        # Accumulated here, computed once per epoch: each self.log call costs ~1 ms of Lightning bookkeeping,
        # several % of a CPU step.
        epoch_loss, metrics = self._stage_metrics[stage]
        epoch_loss.update(loss.detach(), weight=size)
        if not self.multi_label:
            metrics.update(logits, batch.labels)
        elif stage == "val":
            self.threshold_sweep.update(self.probabilities(logits.detach()), batch.labels)
        else:
            metrics.update(self.decisions(logits.detach()), batch.labels)
        return loss, logits.detach()

    def _log_epoch_metrics(self, stage: str, prog_bar: bool = False) -> None:
        """Every rank computes the epoch's values here, in a hook that every rank runs, and logs them as they are.

        compute() gathers the counts of every DDP rank, so the logged values are already global. Nothing is
        left for Lightning to reduce later (no ``sync_dist``): its lazy reductions run when something first
        reads a value, and rank 0's progress bar reads them in a callback hook that the other ranks run without
        reading, while they have moved on to this hook's gathers. That mismatch deadlocked 2-process DDP.
        """
        loss_key = "train/loss_epoch" if stage == "train" else f"{stage}/loss"
        epoch_loss, metrics = self._stage_metrics[stage]
        self.log_dict({loss_key: epoch_loss.compute(), **metrics.compute()}, prog_bar=prog_bar)
        epoch_loss.reset()
        metrics.reset()


def class_weight_tensor(setting: ClassWeights, counts: np.ndarray, names: Sequence[str]) -> Tensor:
    """The loss weight of each class: ``balanced`` from the training counts, or the named ones (others 1)."""
    counts = np.asarray(counts, dtype=np.float64)
    if setting in ("balanced", "sqrt_balanced"):
        present = counts > 0  # a class without training items has no loss term to weigh; it keeps 1
        weights = np.ones_like(counts)
        weights[present] = counts.sum() / (len(counts) * counts[present])
        return torch.tensor(np.sqrt(weights) if setting == "sqrt_balanced" else weights, dtype=torch.float32)
    if setting == "none":
        return torch.ones(len(counts))
    unknown = sorted(set(setting) - set(names))
    if unknown:
        shown = ", ".join(list(names)[:12]) + (", ..." if len(names) > 12 else "")
        raise BadValue(f"class_weights names {unknown}, which are not labels of the training data ({shown})")
    return torch.tensor([float(setting.get(name, 1.0)) for name in names], dtype=torch.float32)
