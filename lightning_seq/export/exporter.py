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
import io
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from lightning_seq.data.files import not_writable, same_file
from lightning_seq.errors import BadValue, NotWritable
from lightning_seq.inference.loading import data_settings, ensemble_encoding, load_model
from lightning_seq.nn.classifier import RecurrentClassifier, check_batch
from lightning_seq.nn.ensemble import EnsembleClassifier
from lightning_seq.nn.recurrent import RecurrentEncoder

Format = Literal["onnx", "torchscript"]
SUFFIXES: dict[str, str] = {"onnx": ".onnx", "torchscript": ".pt"}
# The file names each format may have: load_exported (and onnxruntime users) tell the format by the suffix.
ACCEPTED_SUFFIXES: dict[str, tuple[str, ...]] = {"onnx": (".onnx",), "torchscript": (".pt", ".pth", ".torchscript")}
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


def check_out(path: str | Path, fmt: Format, checkpoints: Sequence[str | Path] = ()) -> Path:
    """``path`` if the model and its ``<path>.json`` can be written there; else one line saying why, before any work.

    Refused: either file being one of ``checkpoints`` (the same name, a symbolic or a hard link: exporting would
    destroy it), a suffix that is not the format's, a directory, or a regular file where a folder must be.
    """
    if fmt not in SUFFIXES:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(SUFFIXES)}")
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise BadValue(f"--out {path} is a directory; give a file name, e.g. {path / ('model' + SUFFIXES[fmt])}")
    for output in (path, sidecar(path)):
        for checkpoint in map(Path, checkpoints):
            if same_file(output, checkpoint):
                which = f"--out {path}" if output == path else f"--out {path}: its sidecar {output}"
                raise BadValue(
                    f"{which} is a checkpoint itself ({checkpoint}, the same file): exporting would overwrite it; "
                    "give another --out"
                )
    for output in (path, sidecar(path)):
        if output.is_dir():
            example = path / f"model{SUFFIXES[fmt]}"
            raise BadValue(f"--out {path}: {output} is a directory; give a file name, e.g. {example}")
    accepted = ACCEPTED_SUFFIXES[fmt]
    if path.suffix not in accepted:
        other = next((name for name, suffixes in ACCEPTED_SUFFIXES.items() if path.suffix in suffixes), None)
        hint = f", or --format {other} for {_FORMAT_NAMES[other]} file" if other else ""
        raise BadValue(
            f"--out {path}: {_FORMAT_NAMES[fmt]} model's file name ends in {_either(accepted)} (the runners tell "
            f"the format by it); give --out {path.with_name(_file_name(path, fmt))}{hint}"
        )
    blocking = next((parent for parent in reversed(path.parents) if parent.is_file()), None)
    if blocking is not None:
        raise NotWritable(f"cannot write {path}: {blocking} is a file, not a directory; give another --out")
    return path


_FORMAT_NAMES = {"onnx": "an ONNX", "torchscript": "a TorchScript"}


def _either(suffixes: Sequence[str]) -> str:
    return suffixes[0] if len(suffixes) == 1 else f"{', '.join(suffixes[:-1])} or {suffixes[-1]}"


def _file_name(path: Path, fmt: Format) -> str:
    """``path``'s name with the format's suffix (``m.onnx`` for ``m.bin`` or ``m.onnx.pt``)."""
    stem = Path(path.stem)
    return str(stem) if stem.suffix in ACCEPTED_SUFFIXES[fmt] else f"{stem}{SUFFIXES[fmt]}"


def export_model(
    net: Network,
    path: str | Path,
    fmt: Format,
    metadata: dict | None = None,
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Write ``net`` to ``path`` as ``fmt``, and ``<path>.json`` with the input contract and ``metadata``.

    Both files are written beside ``path`` under temporary names and renamed into place only when complete and
    ``check`` (given the temporary model's path) has returned: a full disk or a failed check leaves no partial
    model behind, and an earlier export at ``path`` stays as it was.
    """
    path = check_out(path, fmt)
    created = [parent for parent in path.parents if not parent.exists()]  # the deepest first
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise not_writable(path, error) from None
    wrapper = ExportableClassifier(net)
    model = _serialized(wrapper, fmt)
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
    staging, moved = None, False
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        staged = staging / path.name
        staged.write_bytes(model)
        sidecar(staged).write_text(json.dumps(contract, indent=2) + "\n")
        if check is not None:
            check(staged)
        os.replace(staged, path)
        os.replace(sidecar(staged), sidecar(path))
        moved = True
    except NotWritable:
        raise
    except OSError as error:
        raise not_writable(path, error) from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        for directory in [] if moved else created:  # folders made for the model go too
            try:
                directory.rmdir()
            except OSError:
                break
    return path


def _serialized(wrapper: ExportableClassifier, fmt: Format) -> bytes:
    """The traced model as the bytes of an ``fmt`` file (made in memory: the file itself is written by Python,
    whose errors say why a write failed)."""
    example = _example_inputs(wrapper.net.vocab_size)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # Tracing notes that shapes may change (checked afterwards by parity on real batches), and torch deprecates
        # the TorchScript-based exporter and torch.jit, which still are the routes that keep nn.GRU/LSTM whole.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", r".*(TorchScript|torch\.jit).*deprecated.*", DeprecationWarning)
        warnings.filterwarnings("ignore", r".*dynamo=False.*", DeprecationWarning)
        warnings.filterwarnings("ignore", r"You are using the legacy TorchScript-based ONNX.*", DeprecationWarning)
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
                buffer,
                dynamo=False,
                input_names=["tokens", "lengths"],
                output_names=["logits"],
                dynamic_axes={"tokens": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=ONNX_OPSET,
            )
        else:
            torch.jit.save(torch.jit.trace(wrapper, example), buffer)
    return buffer.getvalue()


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
    checkpoints: str | Path | Sequence[str | Path],
    fmt: Format,
    out: str | Path | None = None,
    check: Callable[[Network, Path], None] | None = None,
) -> tuple[Path, Network]:
    """Export a checkpoint's network, or several checkpoints' ensemble, with the data settings they share;
    ``out`` defaults to the (first) checkpoint's path + suffix. ``check(net, temporary model)`` runs before the
    files are moved into place (see :func:`export_model`)."""
    paths = [Path(checkpoints)] if isinstance(checkpoints, str | Path) else [Path(path) for path in checkpoints]
    path = check_out(Path(out) if out else default_out(paths[0], fmt), fmt, paths)
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
    staged_check = None if check is None else lambda staged: check(net, staged)
    return export_model(net, path, fmt, metadata, staged_check), net


def default_out(checkpoint: Path, fmt: Format) -> Path:
    """Where a model goes without ``--out``: beside the checkpoint, with the format's suffix."""
    return checkpoint.with_suffix(SUFFIXES[fmt])


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
