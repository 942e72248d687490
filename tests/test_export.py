"""Exported models (ONNX through onnxruntime, TorchScript) give the checkpoint's logits on real test batches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lightning_seq.cli.export import main
from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.export.exporter import export_checkpoint, export_model, load_exported, parity
from lightning_seq.inference.loading import read_checkpoint
from lightning_seq.nn.classifier import RecurrentClassifier

pytest.importorskip("onnxruntime", reason="install the export extra: pip install -e '.[export]'")

FORMATS = ("onnx", "torchscript")


def real_batches(datamodule: ReutersDataModule, count: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Bucketed test batches: each has its own width, so the exported model's dynamic axes are exercised."""
    batches = []
    for batch, _ in zip(datamodule.test_dataloader(), range(count), strict=False):
        batches.append((batch.tokens, batch.lengths))
    batches.append((batches[0][0][:5], batches[0][1][:5]))  # a batch size the export never saw
    return batches


@pytest.mark.parametrize("fmt", FORMATS)
def test_exported_checkpoint_matches_its_logits(
    fmt: str, gru_checkpoint: Path, datamodule: ReutersDataModule, tmp_path: Path
) -> None:
    path, net = export_checkpoint(gru_checkpoint, fmt, tmp_path / f"model.{fmt}")
    batches = real_batches(datamodule)
    assert len({tokens.shape[1] for tokens, _ in batches}) > 1
    worst, items = parity(net, path, batches)  # net: the checkpoint's own weights
    assert worst < 1e-5 and items == 4 * 128 + 5
    contract = json.loads(path.with_name(path.name + ".json").read_text())
    assert contract["padding"] == "post" and contract["vocab_size"] == 10000 and len(contract["labels"]) == 46
    assert contract["encoding"] == {"num_words": 10000, "skip_top": 0, "maxlen": 200, "truncating": "pre"}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "settings",
    [
        {"cell": "lstm", "bidirectional": True, "num_layers": 2, "pooling": "attention"},
        {"cell": "rnn", "bidirectional": False, "num_layers": 1, "pooling": "max"},
        {"cell": "gru", "bidirectional": True, "num_layers": 1, "pooling": "mean"},
        {
            "cell": "gru",
            "bidirectional": True,
            "num_layers": 1,
            "pooling": "max",
            "ngram_order": 3,
            "ngram_buckets": 999,
        },
    ],
    ids=lambda s: (
        f"{s['cell']}-{'bi' if s['bidirectional'] else 'uni'}{s['num_layers']}-{s['pooling']}"
        + (f"-ngrams{s['ngram_order']}" if "ngram_order" in s else "")
    ),
)
def test_every_cell_exports_exactly(fmt: str, settings: dict, datamodule: ReutersDataModule, tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = RecurrentClassifier(10000, 46, embedding_dim=16, hidden_size=12, **settings).eval()
    path = export_model(net, tmp_path / f"model.{fmt}", fmt)
    worst, _ = parity(net, path, real_batches(datamodule, count=2))
    assert worst < 1e-5


def test_exported_model_refuses_bad_inputs_by_name(datamodule: ReutersDataModule, tmp_path: Path) -> None:
    """The graph cannot check its inputs; the runner does, before an id past the embedding reads garbage."""
    torch.manual_seed(0)
    net = RecurrentClassifier(10000, 46, cell="gru", embedding_dim=16, hidden_size=12, bidirectional=True).eval()
    run = load_exported(export_model(net, tmp_path / "model.onnx", "onnx"))
    tokens, lengths = real_batches(datamodule, count=1)[0]
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(run(tokens.numpy(), lengths.numpy())), net(tokens, lengths))
    tokens[0, 0] = 10000
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 10000\)"):
        run(tokens.numpy(), lengths.numpy())
    with pytest.raises(ValueError, match=r"do not hold exactly their lengths' tokens first"):
        run(tokens.flip(1).clamp(max=9999).numpy(), lengths.numpy())  # pre-padded rows


def test_export_script_checks_parity_on_real_data(gru_checkpoint: Path, tmp_path: Path, capsys) -> None:
    out = main(["--ckpt", str(gru_checkpoint), "--format", "torchscript", "--out", str(tmp_path / "m.pt")])
    assert out == tmp_path / "m.pt" and out.is_file()
    assert "Parity on 512 real test items: largest |logit difference|" in capsys.readouterr().out


def test_unknown_format_and_bad_checkpoints(tmp_path: Path) -> None:
    net = RecurrentClassifier(100, 4)
    with pytest.raises(ValueError, match="unknown format 'tflite': choose one of onnx, torchscript"):
        export_model(net, tmp_path / "m", "tflite")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.ckpt is not a readable checkpoint"):
        read_checkpoint(tmp_path / "junk.ckpt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match="not a lightning_seq checkpoint: it has no state_dict or hyper_parameters"):
        read_checkpoint(tmp_path / "other.ckpt")
