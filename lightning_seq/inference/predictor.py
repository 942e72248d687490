"""Topics for raw newswire text from a trained checkpoint: ``scripts/predict.py`` and :class:`TopicPredictor`.

    predictor = TopicPredictor.from_checkpoint("lightning_logs/gru/version_0/checkpoints/last.ckpt")
    predictor.predict(["Egypt bought 200,000 tonnes of U.S. wheat"], top_k=3)[0].topics  # ((topic, probability), ...)

Texts are encoded as the checkpoint's training data was (:mod:`lightning_seq.data.tokenizer`): the same word
index, ``num_words``, ``skip_top``, ``maxlen`` and truncation side. A text without words, or whose
words the model has never seen, is refused with an error rather than answered with a guess.
"""

from __future__ import annotations

import argparse
import codecs
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from lightning_seq.data.sequences import Ragged, pad_sequences
from lightning_seq.data.tokenizer import EncodedText, TextEncoder
from lightning_seq.errors import BadValue, MissingFile, report_user_errors
from lightning_seq.inference.loading import load_datamodule, load_model
from lightning_seq.training.module import SequenceClassifier


@dataclass(frozen=True)
class TopicPrediction:
    """The ``top_k`` topics of one text, most probable first, and how much of the text the model could read."""

    text: str
    topics: tuple[tuple[str, float], ...]
    words: int
    unknown_words: tuple[str, ...]
    truncated_tokens: int  # tokens cut to fit the training maxlen (from the front with Keras's 'pre')

    def to_dict(self) -> dict:
        data = asdict(self)
        data["topics"] = [{"topic": name, "probability": round(p, 6)} for name, p in self.topics]
        return data


class TopicPredictor:
    """A trained classifier plus the encoding its data used."""

    def __init__(
        self,
        model: SequenceClassifier,
        encoder: TextEncoder,
        topic_names: Sequence[str],
        maxlen: int,
        truncating: str = "pre",
    ) -> None:
        if len(topic_names) != model.hparams.num_classes:
            raise ValueError(f"{len(topic_names)} topic names for a model with {model.hparams.num_classes} classes")
        if encoder.vocab_size != model.hparams.vocab_size:
            raise ValueError(
                f"the encoder's vocabulary ({encoder.vocab_size} ids) is not the model's ({model.hparams.vocab_size})"
            )
        self.model = model.eval()
        self.encoder = encoder
        self.topic_names = tuple(topic_names)
        self.maxlen, self.truncating = maxlen, truncating

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str | Path, data_dir: str | None = None, device: str | torch.device = "cpu"
    ) -> TopicPredictor:
        """Model, word index and encoding settings from one checkpoint (the word index from ``data_dir``)."""
        datamodule = load_datamodule(checkpoint, data_dir=data_dir)
        hp = datamodule.hparams
        encoder = TextEncoder(datamodule.word_index, datamodule.vocab_size, hp.skip_top)
        model = load_model(checkpoint, map_location=device)
        return cls(model, encoder, datamodule.topic_names, hp.maxlen, hp.truncating)

    def encode(self, texts: Sequence[str], numbers: Sequence[int] | None = None) -> list[EncodedText]:
        """Every text's encoding; one ``ValueError`` naming (by ``numbers``) every text that is empty or unknown."""
        encoded, problems = [], []
        for number, text in zip(numbers or range(1, len(texts) + 1), texts, strict=True):
            try:
                item = self.encoder.encode(text)
            except ValueError as error:
                problems.append(f"text {number}: {error}")
                continue
            if item.known == 0:
                problems.append(
                    f"text {number}: none of its words {list(item.words)[:10]} is in the model's vocabulary "
                    f"({self.encoder.vocab_size:,} ids), so any topic would be a guess; give English newswire text"
                )
            encoded.append(item)
        if problems:
            raise BadValue("cannot classify:\n  " + "\n  ".join(problems))
        return encoded

    @torch.no_grad()
    def predict(
        self,
        texts: str | Sequence[str],
        top_k: int = 3,
        batch_size: int = 256,
        numbers: Sequence[int] | None = None,
    ) -> list[TopicPrediction]:
        """The ``top_k`` topics of each text; ``numbers`` name the texts in errors (default 1, 2, ...)."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            raise BadValue("no texts given")
        if not 1 <= top_k <= len(self.topic_names):
            raise BadValue(f"top_k must be in [1, {len(self.topic_names)}], got {top_k}")
        encoded = self.encode(texts, numbers)
        sequences = Ragged.from_lists([item.ids.tolist() for item in encoded], np.zeros(len(encoded), dtype=np.int64))
        width = min(self.maxlen, int(sequences.lengths.max()))  # the model's result does not depend on padding
        tokens, lengths = (
            torch.from_numpy(array) for array in pad_sequences(sequences, width, "post", self.truncating)
        )
        device = self.model.device
        probabilities = torch.cat(
            [
                self.model(ids.to(device), kept.to(device)).softmax(dim=-1).cpu()
                for ids, kept in zip(tokens.split(batch_size), lengths.split(batch_size), strict=True)
            ]
        )
        top = probabilities.topk(top_k, dim=-1)
        return [
            TopicPrediction(
                text=text,
                topics=tuple((self.topic_names[i], float(p)) for p, i in zip(values, indices.tolist(), strict=True)),
                words=len(item.words),
                unknown_words=item.unknown,
                truncated_tokens=max(0, len(item.ids) - self.maxlen),
            )
            for text, item, values, indices in zip(texts, encoded, top.values.tolist(), top.indices, strict=True)
        ]


def predict_topics(
    checkpoint: str | Path, texts: str | Sequence[str], top_k: int = 3, data_dir: str | None = None
) -> list[TopicPrediction]:
    """One call for library users: load ``checkpoint`` and classify ``texts``."""
    return TopicPredictor.from_checkpoint(checkpoint, data_dir).predict(texts, top_k)


def read_text_file(path: Path) -> str:
    """A text file as editors save it: UTF-8 with or without a byte-order mark, or UTF-16 with one."""
    try:
        payload = path.read_bytes()
    except FileNotFoundError:
        raise MissingFile(f"--file {path} does not exist") from None
    except OSError as error:
        raise BadValue(f"cannot read --file {path} ({error.strerror or error})") from None
    return decode_text(payload, str(path))


def decode_text(payload: bytes, source: str) -> str:
    """UTF-16 if a UTF-16 byte-order mark says so, else UTF-8 (a UTF-8 byte-order mark is dropped)."""
    encoding = "utf-16" if payload.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    try:
        return payload.decode(encoding)
    except UnicodeDecodeError as error:
        line = payload[: error.start].count(b"\n") + 1
        raise BadValue(
            f"{source} is not {encoding.replace('-sig', '')} text: byte {error.start} (line {line}) is "
            f"{payload[error.start : error.start + 1]!r}; save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None


def numbered_lines(text: str, source: str) -> list[tuple[int, str]]:
    """``(line number, line)`` for every line holding more than white space; the blank ones are skipped, and said."""
    lines = list(enumerate(text.splitlines(), start=1))  # \n, \r\n and \r alike
    kept = [(number, line) for number, line in lines if line.strip()]
    blank = [number for number, line in lines if not line.strip()]
    if blank:
        shown = ", ".join(map(str, blank[:10])) + (", ..." if len(blank) > 10 else "")
        print(f"Skipped {len(blank)} blank line(s) of {source}: {shown}", file=sys.stderr)
    if not kept:
        raise BadValue(f"{source} holds no text: give one newswire per line")
    return kept


def _read_texts(args: argparse.Namespace) -> list[tuple[int, str]]:
    """The texts to classify with their numbers: the --text order, or the line in --file / stdin."""
    if args.text:
        return list(enumerate(args.text, start=1))
    if args.file:
        return numbered_lines(read_text_file(args.file), str(args.file))
    if sys.stdin is None or sys.stdin.closed or sys.stdin.isatty():
        raise BadValue("no input: give --text TEXT, --file FILE (one text per line), or pipe text to stdin")
    if hasattr(sys.stdin, "buffer"):  # the bytes, so that stdin is decoded as a file is
        return numbered_lines(decode_text(sys.stdin.buffer.read(), "stdin"), "stdin")
    return numbered_lines(sys.stdin.read().removeprefix("\ufeff"), "stdin")


def format_prediction(number: int, prediction: TopicPrediction) -> str:
    preview = prediction.text if len(prediction.text) <= 70 else prediction.text[:67] + "..."
    notes = [f"{prediction.words} words"]
    if prediction.unknown_words:
        shown = ", ".join(prediction.unknown_words[:8]) + (", ..." if len(prediction.unknown_words) > 8 else "")
        notes.append(f"{len(prediction.unknown_words)} unknown: {shown}")
    if prediction.truncated_tokens:
        notes.append(f"first {prediction.truncated_tokens} tokens cut to fit maxlen")
    lines = [f"[{number}] {preview!r} ({'; '.join(notes)})"]
    lines += [f"    {name:<16} {probability:.3f}" for name, probability in prediction.topics]
    return "\n".join(lines)


@report_user_errors
def main(argv: Sequence[str] | None = None) -> list[TopicPrediction]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", type=Path, required=True, help="checkpoint written by scripts/fit.py")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--text", action="append", help="a text to classify (repeatable)")
    source.add_argument(
        "--file", type=Path, help="a text file, one newswire per line (UTF-8 or UTF-16; blank lines are skipped)"
    )
    parser.add_argument("--top_k", type=int, default=3, help="topics to show per text")
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per text (with its line 'number') instead of a table"
    )
    parser.add_argument("--data_dir", help="directory with reuters_word_index.json (default: $LIGHTNING_SEQ_DATA)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args(argv)
    numbers, texts = zip(*_read_texts(args), strict=True)
    predictor = TopicPredictor.from_checkpoint(args.ckpt, args.data_dir, args.device)
    predictions = predictor.predict(list(texts), args.top_k, numbers=list(numbers))
    for number, prediction in zip(numbers, predictions, strict=True):  # number: --text position or line
        record = {"number": number} | prediction.to_dict()
        print(json.dumps(record) if args.json else format_prediction(number, prediction))
    return predictions
