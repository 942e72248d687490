"""A checkpoint as an ONNX or TorchScript model, ``(tokens, lengths) -> logits`` (``scripts/export.py`` runs it).

Inputs: ``tokens`` int64 ``(batch, time)``, each row's token ids first and 0-padding after (the
training batches' layout), and ``lengths`` int64 ``(batch,)``, the real tokens per row (each >= 1).
Both dimensions are dynamic; ids must be below ``vocab_size`` (the runner :func:`load_exported` returns checks
its inputs first). Texts are encoded as in
:mod:`lightning_seq.data.tokenizer`. A ``<model>.json`` beside the model records this contract, the label names,
the encoding settings (and a text-files run's vocabulary), and for multi-label models the decision thresholds, so
that a deployment needs nothing else from this package.

ONNX goes through torch's TorchScript-based exporter: it maps ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``
onto ONNX's own recurrent operators with dynamic batch and time axes. (The newer dynamo exporter
unrolls ``rnn_tanh`` over time and fixes the batch size; checked with torch 2.13.)
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from lightning_seq.errors import BadValue, NotWritable
from lightning_seq.inference.loading import data_settings, ensemble_encoding, load_model
from lightning_seq.nn.classifier import RecurrentClassifier, check_batch
from lightning_seq.nn.ensemble import EnsembleClassifier
from lightning_seq.nn.recurrent import RecurrentEncoder

Format = Literal["onnx", "torchscript"]
SUFFIXES: dict[str, str] = {"onnx": ".onnx", "torchscript": ".pt"}
ONNX_OPSET = 17


Network = RecurrentClassifier | EnsembleClassifier


class ExportableClassifier(nn.Module):
    """A copy of a :class:`RecurrentClassifier` (or an ensemble of them) for tracing: always the masked
    variable-length strategy (exact, and made of plain tensor ops that ONNX and TorchScript both keep)."""

    def __init__(self, net: Network) -> None:
        super().__init__()
        self.net = copy.deepcopy(net).cpu().eval()
        for module in self.net.modules():
            if isinstance(module, RecurrentEncoder):
                module.variable_length = "mask"

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        return self.net(tokens, lengths)


def export_model(net: Network, path: str | Path, fmt: Format, metadata: dict | None = None) -> Path:
    """Write ``net`` to ``path`` as ``fmt``, and ``<path>.json`` with the input contract and ``metadata``."""
    if fmt not in SUFFIXES:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(SUFFIXES)}")
    path = Path(path)
    blocking = next((parent for parent in reversed(path.parents) if parent.is_file()), None)
    if blocking is not None:
        raise NotWritable(f"cannot write {path}: {blocking} is a file, not a directory; give another --out")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NotWritable(f"cannot write {path} ({error.strerror or error}); give --out a writable place") from None
    wrapper = ExportableClassifier(net)
    example = _example_inputs(wrapper.net.vocab_size)
    with warnings.catch_warnings():
        # Tracing notes that shapes may change (checked afterwards by parity on real batches), and torch deprecates
        # the TorchScript-based exporter and torch.jit, which still are the routes that keep nn.GRU/LSTM whole.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", r".*(TorchScript|torch\.jit).*deprecated.*", DeprecationWarning)
        warnings.filterwarnings("ignore", r".*dynamo=False.*", DeprecationWarning)
        warnings.filterwarnings("ignore", r"The feature will be removed.*", DeprecationWarning)
        # The gathers index time steps with non-negative positions only, the case the exporter handles exactly.
        warnings.filterwarnings("ignore", r"Exporting aten::index operator of advanced indexing.*", UserWarning)
        # The recurrent layers start from a zero state made inside the graph, for any batch size (parity-checked).
        warnings.filterwarnings("ignore", r"Exporting a model to ONNX with a batch_size other than 1.*", UserWarning)
        # The n-gram branch's EmbeddingBag becomes an ONNX loop whose slices are left unfolded (parity-checked).
        warnings.filterwarnings("ignore", r"Constant folding - Only steps=1 can be constant folded.*", UserWarning)
        if fmt == "onnx":
            torch.onnx.export(
                wrapper,
                example,
                str(path),
                dynamo=False,
                input_names=["tokens", "lengths"],
                output_names=["logits"],
                dynamic_axes={"tokens": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=ONNX_OPSET,
            )
        else:
            torch.jit.trace(wrapper, example).save(str(path))
    classes = net.num_classes if isinstance(net, EnsembleClassifier) else net.head.out_features
    contract = {
        "format": fmt,
        "inputs": {
            "tokens": f"int64 (batch, time): each row's ids first, then 0-padding; ids < {wrapper.net.vocab_size}",
            "lengths": "int64 (batch,), real tokens per row, >= 1",
        },
        "outputs": {"logits": f"float32 (batch, {classes})"},
        "padding": "post",
        "vocab_size": wrapper.net.vocab_size,
        **(metadata or {}),
    }
    sidecar(path).write_text(json.dumps(contract, indent=2) + "\n")
    return path


def load_exported(path: str | Path) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``run(tokens, lengths) -> logits`` on numpy arrays: onnxruntime (CPU) for ``.onnx``, torch.jit otherwise."""
    path = Path(path)
    vocab_size = json.loads(sidecar(path).read_text())["vocab_size"] if sidecar(path).exists() else None
    if path.suffix == ".onnx":
        try:
            import onnxruntime
        except ImportError as error:
            raise ImportError("running ONNX models needs onnxruntime: pip install 'lightning_seq[export]'") from error
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def forward(tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
            return session.run(["logits"], {"tokens": tokens, "lengths": lengths})[0]

    else:
        module = torch.jit.load(str(path), map_location="cpu")

        def forward(tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return module(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()

    def run(tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        # The graph itself cannot refuse bad input; an id past the embedding would read garbage or crash.
        check_batch(torch.from_numpy(tokens), torch.from_numpy(lengths), vocab_size or np.iinfo(np.int64).max)
        return forward(tokens, lengths)

    return run


def parity(net: Network, exported: str | Path, batches: Iterable[tuple[Tensor, Tensor]]) -> tuple[float, int]:
    """Largest absolute logit difference between ``net`` and the exported model, and the items compared."""
    run = load_exported(exported)
    net = net.cpu().eval()
    worst, items = 0.0, 0
    with torch.no_grad():
        for tokens, lengths in batches:
            expected = net(tokens, lengths).numpy()
            actual = run(tokens.numpy(), lengths.numpy())
            worst = max(worst, float(np.abs(actual - expected).max()))
            items += len(tokens)
    return worst, items


def export_checkpoint(
    checkpoints: str | Path | Sequence[str | Path], fmt: Format, out: str | Path | None = None
) -> tuple[Path, Network]:
    """Export a checkpoint's network, or several checkpoints' ensemble, with the data settings they share;
    ``out`` defaults to the (first) checkpoint's path + suffix."""
    paths = [Path(checkpoints)] if isinstance(checkpoints, str | Path) else [Path(path) for path in checkpoints]
    encoding = ensemble_encoding(paths)
    checkpoint = paths[0]
    settings = data_settings(checkpoint)
    models = [load_model(path) for path in paths]
    model = models[0]
    net: Network = model.net if len(models) == 1 else EnsembleClassifier([member.net for member in models])
    named = str(checkpoint) if len(paths) == 1 else [str(path) for path in paths]
    metadata: dict = {"checkpoint": named, "vocab_size": net.vocab_size}
    if encoding.words is None:  # Reuters: the word index is the published file
        metadata["encoding"] = {key: settings.get(key) for key in ("num_words", "skip_top", "maxlen", "truncating")}
        metadata["text"] = (
            "lower-case, Keras text_to_word_sequence punctuation filters, reuters_word_index.json rank + 3, "
            "start token 1 first, out-of-vocabulary 2"
        )
    else:  # the user's texts: the fitted vocabulary travels with the model
        metadata["encoding"] = {key: settings.get(key) for key in ("num_words", "min_count", "maxlen", "truncating")}
        metadata["text"] = (
            "lower-case, Keras text_to_word_sequence punctuation filters, word i of `vocabulary` is id i + 3, "
            "start token 1 first, out-of-vocabulary 2"
        )
        metadata["vocabulary"] = encoding.words
        if encoding.subword is not None:  # the Hugging Face tokenizer itself: Tokenizer.from_str(this) encodes text
            metadata["text"] = (
                "Hugging Face tokenizers: Tokenizer.from_str(tokenizer).encode(text).ids, start id 1 first"
            )
            metadata["tokenizer"] = encoding.subword
    metadata["labels"] = list(encoding.label_names)  # output i is labels[i]
    if model.multi_label:
        probability = (
            "softmax(logits)[i]" if model.hparams.get("multi_label_loss") == "softmax" else "sigmoid(logits[i])"
        )
        metadata["decision"] = f"multi-label: label i is predicted when {probability} >= thresholds[i]" + (
            "; a row where none is gets its most probable label"
            if model.hparams.get("at_least_one_label", True)
            else ""
        )
        metadata["thresholds"] = [round(float(value), 6) for value in model.thresholds]
    else:
        metadata["decision"] = "single-label: softmax(logits); the predicted label is the argmax"
    if len(paths) > 1:
        metadata["ensemble"] = (
            f"the mean of {len(paths)} members' probabilities: logits = log(mean softmax), so softmax(logits) is it"
        )
    path = Path(out) if out else checkpoint.with_suffix(SUFFIXES[fmt])
    if any(path.resolve() == member.resolve() for member in paths):
        raise BadValue(f"--out {path} is a checkpoint itself: exporting would overwrite it; give another --out")
    try:
        return export_model(net, path, fmt, metadata), net
    except PermissionError as error:
        raise NotWritable(f"cannot write {path} ({error.strerror}); give --out a writable place") from None


def _example_inputs(vocab_size: int) -> tuple[Tensor, Tensor]:
    """Two rows of different lengths, so that nothing about one row's shape gets baked in."""
    lengths = torch.tensor([7, 3])
    tokens = torch.zeros(2, 7, dtype=torch.long)
    for row, length in enumerate(lengths.tolist()):
        ids = torch.arange(1, length + 1) % vocab_size
        ids[ids == 0] = 1
        tokens[row, :length] = ids
    return tokens, lengths


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")
