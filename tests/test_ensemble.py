"""Ensembles: the averaged network, its test report beside each member's, and its export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lightning_seq.cli.lightning_cli import main
from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.inference.loading import load_model
from lightning_seq.nn.classifier import RecurrentClassifier
from lightning_seq.nn.ensemble import EnsembleClassifier
from tests.test_model import batch


def two_members() -> list[RecurrentClassifier]:
    torch.manual_seed(0)
    return [
        RecurrentClassifier(60, 5, "gru", embedding_dim=8, hidden_size=6, bidirectional=True, pooling="max").eval(),
        RecurrentClassifier(60, 5, "lstm", embedding_dim=6, hidden_size=4, ngram_order=2, ngram_buckets=17).eval(),
    ]


def test_the_ensemble_answers_with_its_members_mean_probability() -> None:
    members = two_members()
    inputs = batch([[1, 5, 9, 3], [1, 7], [1, 4, 4, 4, 4, 8]], width=9)
    with torch.no_grad():
        mean = torch.stack([member(*inputs).softmax(dim=-1) for member in members]).mean(dim=0)
        logits = EnsembleClassifier(members)(*inputs)
    torch.testing.assert_close(logits.softmax(dim=-1), mean)
    torch.testing.assert_close(logits.exp().sum(dim=-1), torch.ones(3))  # log-probabilities, not just logits


def test_members_must_share_vocabulary_and_labels() -> None:
    with pytest.raises(ValueError, match="differ in"):
        EnsembleClassifier([RecurrentClassifier(60, 5), RecurrentClassifier(60, 6)])


def test_several_checkpoints_test_as_an_ensemble_beside_each_member(
    gru_checkpoint: Path, datamodule: ReutersDataModule, tmp_path: Path, capsys
) -> None:
    last = gru_checkpoint.parent / "last.ckpt"
    metrics = main(["test", "--ckpt", str(gru_checkpoint), "--ckpt", str(last), "--out", str(tmp_path)])
    written = json.loads((tmp_path / "test_metrics.json").read_text())
    members = [load_model(path) for path in (gru_checkpoint, last)]
    logits: list[list[torch.Tensor]] = [[], []]
    labels = []
    with torch.no_grad():
        for item in datamodule.test_dataloader():
            for member, rows in zip(members, logits, strict=True):
                rows.append(member(item.tokens, item.lengths).softmax(dim=-1))
            labels.append(item.labels)
    target = torch.cat(labels)
    probabilities = [torch.cat(rows) for rows in logits]
    for row, member_probabilities in zip(written["members"], probabilities, strict=True):
        assert row["accuracy"] == pytest.approx(float((member_probabilities.argmax(1) == target).float().mean()))
    averaged = float(((probabilities[0] + probabilities[1]).argmax(1) == target).float().mean())
    assert metrics["test/acc"] == written["test/acc"] == pytest.approx(averaged)
    table = (tmp_path / "ensemble_report.md").read_text()
    assert str(gru_checkpoint) in table and str(last) in table and "| ensemble |" in table
    assert (tmp_path / "test_report.md").exists() and (tmp_path / "confusion_matrix.png").exists()
    assert "| ensemble |" in capsys.readouterr().out


def test_an_ensemble_exports_with_parity(gru_checkpoint: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("onnxruntime", reason="install the export extra: pip install -e '.[export]'")
    from lightning_seq.cli.export import main as export_main

    last = gru_checkpoint.parent / "last.ckpt"
    path = export_main(["--ckpt", str(gru_checkpoint), "--ckpt", str(last), "--out", str(tmp_path / "ensemble.onnx")])
    assert "Parity on 512 real test items" in capsys.readouterr().out
    contract = json.loads(path.with_name("ensemble.onnx.json").read_text())
    assert contract["checkpoint"] == [str(gru_checkpoint), str(last)] and "mean of 2" in contract["ensemble"]


def test_members_that_read_text_differently_are_refused_in_one_line(
    gru_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    other = torch.load(gru_checkpoint, weights_only=True)
    other["datamodule_hyper_parameters"]["maxlen"] = 100  # the same weights, reading shorter wires
    torch.save(other, tmp_path / "other.ckpt")
    with pytest.raises(SystemExit) as stopped:
        main(["test", "--ckpt", str(gru_checkpoint), "--ckpt", str(tmp_path / "other.ckpt"), "--out", str(tmp_path)])
    error = capsys.readouterr().err.strip()
    assert stopped.value.code == 2 and len(error.splitlines()) == 1
    assert "other.ckpt encodes text differently" in error and not (tmp_path / "test_metrics.json").exists()


def test_an_ensemble_figure_that_fails_is_a_warning_and_the_numbers_stay(
    gru_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lightning_seq.inference import ensemble_test

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError("Unable to allocate 9.6 GiB for an array")

    monkeypatch.setattr(ensemble_test, "confusion_matrix_figure", out_of_memory)
    last = gru_checkpoint.parent / "last.ckpt"
    with pytest.warns(UserWarning, match=r"confusion_matrix.png was not drawn \(MemoryError: Unable to allocate"):
        main(["test", "--ckpt", str(gru_checkpoint), "--ckpt", str(last), "--out", str(tmp_path)])
    assert json.loads((tmp_path / "test_metrics.json").read_text())["test/acc"] > 0
    assert (tmp_path / "ensemble_report.md").is_file() and (tmp_path / "per_class_f1.png").is_file()
    assert not (tmp_path / "confusion_matrix.png").exists()
