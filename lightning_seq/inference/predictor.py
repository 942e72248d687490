"""Labels for raw text from a trained checkpoint (:class:`TopicPredictor`; ``scripts/predict.py`` uses it).

    predictor = TopicPredictor.from_checkpoint("lightning_logs/gru/version_0/checkpoints/last.ckpt")
    predictor.predict(["Egypt bought 200,000 tonnes of U.S. wheat"], top_k=3)[0].topics  # ((topic, probability), ...)

Texts are encoded as the checkpoint's training data was (:mod:`lightning_seq.data.tokenizer`): the Reuters word
index with the run's ``num_words`` and ``skip_top``, or the vocabulary a text-files run fitted (carried in the
checkpoint); the same ``maxlen`` and truncation side. A text without words, or whose words the model has never
seen, is refused with an error rather than answered with a guess. ``labels`` are the model's decision: the most
probable class, or for a multi-label model every label above its threshold (chosen on validation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from lightning_seq.data.sequences import Ragged, pad_sequences
from lightning_seq.data.tokenizer import EncodedText, WordTokenizer
from lightning_seq.errors import BadCheckpoint, BadValue, excerpt
from lightning_seq.inference.loading import ensemble_encoding, load_model
from lightning_seq.training.module import SequenceClassifier
from lightning_seq.training.thresholds import decide

MAX_PROBLEMS = 10  # texts a refusal names; the rest are counted


@dataclass(frozen=True)
class TopicPrediction:
    """The ``top_k`` topics of one text, most probable first, and how much of the text the model could read."""

    text: str
    topics: tuple[tuple[str, float], ...]  # the top_k labels with their probabilities
    words: int
    unknown_words: tuple[str, ...]
    truncated_tokens: int  # tokens cut to fit the training maxlen (from the front with Keras's 'pre')
    labels: tuple[tuple[str, float], ...] = ()  # the decision: the top class, or every label above its threshold

    def to_dict(self) -> dict:
        data = asdict(self)
        data["topics"] = [{"topic": name, "probability": round(p, 6)} for name, p in self.topics]
        data["labels"] = [{"label": name, "probability": round(p, 6)} for name, p in self.labels]
        return data


class TopicPredictor:
    """A trained classifier (or an ensemble of classifiers of one vocabulary and label set) plus the encoding its
    data used. An ensemble answers with its members' averaged probabilities."""

    def __init__(
        self,
        model: SequenceClassifier | Sequence[SequenceClassifier],
        tokenizer: WordTokenizer,
        topic_names: Sequence[str],
        maxlen: int,
        truncating: str = "pre",
    ) -> None:
        """``model.multi_label`` models answer with sigmoid probabilities and their saved thresholds."""
        models = (model,) if isinstance(model, SequenceClassifier) else tuple(model)
        for member in models:
            if len(topic_names) != member.hparams.num_classes:
                raise BadCheckpoint(
                    f"{len(topic_names)} topic names for a model with {member.hparams.num_classes} classes"
                )
            if tokenizer.vocab_size != member.hparams.vocab_size:
                raise ValueError(
                    f"the tokenizer's vocabulary ({tokenizer.vocab_size} ids) is not the model's "
                    f"({member.hparams.vocab_size})"
                )
        if len(models) > 1 and any(member.multi_label for member in models):
            raise BadValue(
                "an ensemble of multi-label checkpoints is not supported: each member's thresholds were chosen for "
                "its own probabilities; give one multi-label checkpoint"
            )
        self.models = tuple(member.eval() for member in models)
        self.model = self.models[0]  # the thresholds and the decision rule (an ensemble is single-label)
        self.tokenizer = tokenizer
        self.topic_names = tuple(topic_names)
        self.maxlen, self.truncating = maxlen, truncating

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str | Path, data_dir: str | None = None, device: str | torch.device = "cpu"
    ) -> TopicPredictor:
        """Model, vocabulary and encoding settings from one checkpoint (Reuters' word index from ``data_dir``)."""
        return cls.from_checkpoints([checkpoint], data_dir, device)

    @classmethod
    def from_checkpoints(
        cls, checkpoints: Sequence[str | Path], data_dir: str | None = None, device: str | torch.device = "cpu"
    ) -> TopicPredictor:
        """One checkpoint, or an ensemble of several that encode text alike (same vocabulary, labels and maxlen)."""
        first = ensemble_encoding(checkpoints, data_dir)
        models = [load_model(checkpoint, map_location=device) for checkpoint in checkpoints]
        return cls(models, first.tokenizer, first.label_names, first.maxlen, first.truncating)

    def encode(
        self,
        texts: Sequence[str],
        numbers: Sequence[int] | None = None,
        refuse_unknown: bool = True,
        max_problems: int = MAX_PROBLEMS,
    ) -> list[EncodedText]:
        """Every text's encoding; one ``ValueError`` naming (by ``numbers``) every text that is empty, or (with
        ``refuse_unknown``) whose words are all unknown."""
        encoded, problems = [], []
        for number, text in zip(numbers or range(1, len(texts) + 1), texts, strict=True):
            try:
                item = self.tokenizer.encode(text)
            except ValueError as error:
                problems.append(f"text {number}: {error}")
                continue
            if refuse_unknown and item.known == 0:
                problems.append(
                    f"text {number}: none of its words [{', '.join(excerpt(word) for word in item.words[:10])}] is in "
                    "the model's vocabulary "
                    f"({self.tokenizer.vocab_size:,} ids), so any label would be a guess; give text like the "
                    "training texts"
                )
            encoded.append(item)
        if problems:
            more = len(problems) - max_problems
            shown = problems[:max_problems] + ([f"and {more:,} more texts"] if more > 0 else [])
            raise BadValue("cannot classify:\n  " + "\n  ".join(shown))
        return encoded

    @property
    def default_top_k(self) -> int:
        """3, or every label of a model with fewer: the ``top_k`` of a request or command that names none."""
        return min(3, len(self.topic_names))

    def check_top_k(self, top_k: int) -> None:
        if not 1 <= top_k <= len(self.topic_names):
            raise BadValue(f"top_k must be in [1, {len(self.topic_names)}], got {top_k}")

    @torch.no_grad()
    def predict(
        self,
        texts: str | Sequence[str],
        top_k: int = 3,
        batch_size: int = 256,
        numbers: Sequence[int] | None = None,
        refuse_unknown: bool = True,
    ) -> list[TopicPrediction]:
        """The ``top_k`` topics of each text; ``numbers`` name the texts in errors (default 1, 2, ...).

        ``refuse_unknown=False`` answers a text whose words are all unknown too (its ``unknown_words`` then hold
        every word): a file's rows are answered as the model was evaluated, which includes such rows.
        """
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            raise BadValue("no texts given")
        self.check_top_k(top_k)
        encoded = self.encode(texts, numbers, refuse_unknown)
        return self.predictions(texts, encoded, self.probabilities(encoded, batch_size), top_k)

    @torch.no_grad()
    def probabilities(self, encoded: Sequence[EncodedText], batch_size: int = 256) -> torch.Tensor:
        """``(texts, labels)`` probabilities on the CPU, averaged over an ensemble's members.

        Rows are padded only to the longest text given (the model's result does not depend on padding), so a
        server may pool several requests' texts into one call.
        """
        sequences = Ragged.from_lists([item.ids.tolist() for item in encoded], np.zeros(len(encoded), dtype=np.int64))
        width = min(self.maxlen, int(sequences.lengths.max()))
        tokens, lengths = (
            torch.from_numpy(array) for array in pad_sequences(sequences, width, "post", self.truncating)
        )
        probabilities = sum(
            torch.cat(
                [
                    model.probabilities(model(ids.to(model.device), kept.to(model.device))).cpu()
                    for ids, kept in zip(tokens.split(batch_size), lengths.split(batch_size), strict=True)
                ]
            )
            for model in self.models
        ) / len(self.models)
        if not torch.isfinite(probabilities).all():
            raise BadCheckpoint(
                "the model's outputs are not finite numbers (its weights hold NaN or infinity): the checkpoint is "
                "broken; use an earlier one (best-*.ckpt, or last.ckpt of a run that did not diverge)"
            )
        return probabilities

    def predictions(
        self, texts: Sequence[str], encoded: Sequence[EncodedText], probabilities: torch.Tensor, top_k: int
    ) -> list[TopicPrediction]:
        """Each text's answer from its row of :meth:`probabilities`: the ``top_k`` topics and the decision."""
        top = probabilities.topk(top_k, dim=-1)
        decided = self.decisions(probabilities)
        return [
            TopicPrediction(
                text=text,
                topics=tuple((self.topic_names[i], float(p)) for p, i in zip(values, indices.tolist(), strict=True)),
                words=len(item.words),
                unknown_words=item.unknown,
                truncated_tokens=max(0, len(item.ids) - self.maxlen),
                labels=labels,
            )
            for text, item, values, indices, labels in zip(
                texts, encoded, top.values.tolist(), top.indices, decided, strict=True
            )
        ]

    def decisions(self, probabilities: torch.Tensor) -> list[tuple[tuple[str, float], ...]]:
        """Each row's decided labels, most probable first: the argmax, or every label at or above its threshold."""
        if not self.model.multi_label:
            best = probabilities.argmax(dim=-1).tolist()
            return [((self.topic_names[i], float(row[i])),) for i, row in zip(best, probabilities, strict=True)]
        at_least_one = self.model.hparams.get("at_least_one_label", True)
        above = decide(probabilities, self.model.thresholds.cpu(), at_least_one)
        rows = []
        for row, chosen in zip(probabilities, above, strict=True):
            indices = sorted(chosen.nonzero().flatten().tolist(), key=lambda i: -float(row[i]))
            rows.append(tuple((self.topic_names[i], float(row[i])) for i in indices))
        return rows


def predict_topics(
    checkpoint: str | Path, texts: str | Sequence[str], top_k: int = 3, data_dir: str | None = None
) -> list[TopicPrediction]:
    """One call for library users: load ``checkpoint`` and classify ``texts``."""
    return TopicPredictor.from_checkpoint(checkpoint, data_dir).predict(texts, top_k)
