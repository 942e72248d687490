"""Own texts end to end, through the README's commands: fit, test, predict on a file and export from a CSV, JSON lines,
a folder and fastText lines; a multi-label run; a tune trial on a text-files config; class weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from lightning_seq.cli.lightning_cli import fit_main
from lightning_seq.data.reuters_text import joined_pairs, reuters_wires, write_split
from lightning_seq.errors import BadValue
from lightning_seq.training.module import class_weight_tensor

from .conftest import CONFIGS, REPO_ROOT

TINY = [
    "--model.hidden_size", "16", "--model.embedding_dim", "16", "--trainer.max_epochs", "3",
    "--trainer.enable_progress_bar", "false", "--data.batch_size", "64",
]  # fmt: skip


@pytest.fixture(scope="module")
def texts(real_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 training and 200 test wires written as text in every format, and a multi-label set made from them."""
    out = tmp_path_factory.mktemp("texts")
    wires = reuters_wires(str(real_data_dir))
    splits = {"train": wires["train"][:600], "test": wires["test"][:200]}
    test_topics = {topic for _, _, (topic,) in splits["train"]}
    splits["test"] = [wire for wire in splits["test"] if wire[2][0] in test_topics]  # no topic unseen in training
    for fmt in ("csv", "jsonl", "folder", "fasttext"):
        for split, rows in splits.items():
            write_split(rows, out, split, fmt)
    for split, rows in splits.items():
        write_split(joined_pairs(rows, seed=1), out / "multilabel", split, "jsonl")
    return out


def majority_share(test_csv: Path) -> float:
    """The test accuracy of always answering the most frequent test topic."""
    labels = [line.rsplit(",", 1)[1] for line in test_csv.read_text().splitlines()[1:]]
    return max(labels.count(label) for label in set(labels)) / len(labels)


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(REPO_ROOT / "scripts" / script), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


FILES = {
    "csv": ("train.csv", "test.csv"),
    "jsonl": ("train.jsonl", "test.jsonl"),
    "fasttext": ("train.txt", "test.txt"),
}
FILES["folder"] = ("folder/train", "folder/test")


@pytest.mark.parametrize("fmt", ["jsonl", "folder", "fasttext"])
def test_fit_trains_and_tests_from_each_format(texts: Path, tmp_path: Path, fmt: str) -> None:
    train, test = (str(texts / name) for name in FILES[fmt])
    metrics = fit_main(
        ["--config", str(CONFIGS / "gru.yaml"), "--data", "TextFilesDataModule", "--data.train_file", train,
         "--data.test_file", test, "--trainer.default_root_dir", str(tmp_path), *TINY]
    )  # fmt: skip
    assert set(metrics) == {"test/loss", "test/acc", "test/f1_macro"}
    assert metrics["test/acc"] > majority_share(texts / "test.csv")  # it learned more than the majority topic
    report = (tmp_path / "lightning_logs" / "gru" / "version_0" / "test_report.md").read_text()
    assert "| earn |" in report and "| acq |" in report  # label names from the files, not numbers


def test_readme_commands_on_a_csv_fit_test_predict_and_export(texts: Path, tmp_path: Path) -> None:
    """The own-data walk-through of the README as a user types it, with a checkpoint that carries everything."""
    run(
        "fit.py", "--config", str(CONFIGS / "gru.yaml"), "--data", "TextFilesDataModule",
        "--data.train_file", str(texts / "train.csv"), "--data.test_file", str(texts / "test.csv"), *TINY, cwd=tmp_path,
    )  # fmt: skip
    run_dir = tmp_path / "lightning_logs" / "gru" / "version_0"
    fitted = json.loads((run_dir / "test_metrics.json").read_text())
    best = next((run_dir / "checkpoints").glob("best-*.ckpt"))
    state = torch.load(best, weights_only=True)["TextFilesDataModule"]
    assert state["labels"] == sorted(state["labels"]) and {"acq", "earn"} <= set(state["labels"])
    assert len(state["words"]) > 5000

    tested = run("test.py", "--ckpt_path", str(best), cwd=tmp_path)  # the checkpoint alone: vocabulary and labels
    evaluation = json.loads((run_dir / "evaluation" / best.stem / "test_metrics.json").read_text())
    assert evaluation["test/acc"] == pytest.approx(fitted["test/acc"], abs=1e-6), tested.stdout

    output = tmp_path / "predictions.csv"
    run("predict.py", "--ckpt", str(best), "--input", str(texts / "test.csv"), "--output", str(output), cwd=tmp_path)
    lines = output.read_text().splitlines()
    assert lines[0].startswith("id,labels,probabilities,top_1,p_1") and len(lines) == 1 + len(
        (texts / "test.csv").read_text().splitlines()[1:]
    )
    assert lines[1].startswith("wire-")  # the id column carried through
    jsonl = tmp_path / "predictions.jsonl"
    run("predict.py", "--ckpt", str(best), "--input", str(texts / "test.txt"), "--output", str(jsonl), cwd=tmp_path)
    first = json.loads(jsonl.read_text().splitlines()[0])
    assert first["row"] == "1" and first["labels"][0] == first["top_k"][0]["label"] and first["unknown_words"] >= 0

    exported = run("export.py", "--ckpt", str(best), "--out", str(tmp_path / "model.onnx"), cwd=tmp_path)
    assert "Parity on" in exported.stdout
    contract = json.loads((tmp_path / "model.onnx.json").read_text())
    assert contract["labels"] == state["labels"] and contract["vocabulary"] == state["words"]

    text = (texts / "test.txt").read_text().splitlines()[0].split(" ", 1)[1]
    served, info = served_answer(best, text)  # served with the checkpoint's own vocabulary and string labels
    assert info["labels"] == state["labels"] and info["vocabulary_size"] == vocabulary_size(best)
    assert served["labels"][0]["label"] == first["labels"][0]


def test_multi_label_run_reports_micro_macro_and_per_label_and_predicts_every_label(
    texts: Path, tmp_path: Path
) -> None:
    metrics = fit_main(
        ["--config", str(CONFIGS / "gru.yaml"), "--data", "TextFilesDataModule",
         "--data.train_file", str(texts / "multilabel" / "train.jsonl"),
         "--data.test_file", str(texts / "multilabel" / "test.jsonl"), "--data.maxlen", "400",
         "--model.per_label_thresholds", "true", "--trainer.default_root_dir", str(tmp_path), *TINY]
    )  # fmt: skip
    assert set(metrics) == {"test/loss", "test/acc", "test/f1_micro", "test/f1_macro"}
    run_dir = tmp_path / "lightning_logs" / "gru" / "version_0"
    report = (run_dir / "test_report.md").read_text()
    assert report.startswith("Subset accuracy") and "| micro avg |" in report and "| earn |" in report
    assert not (run_dir / "confusion_matrix.png").exists()
    best = next((run_dir / "checkpoints").glob("best-*.ckpt"))
    thresholds = torch.load(best, weights_only=True)["state_dict"]["thresholds"]
    assert thresholds.shape == (len(json.loads((run_dir / "test_report.json").read_text())["classes"]),)
    from lightning_seq.inference.predictor import TopicPredictor

    predictor = TopicPredictor.from_checkpoint(best)
    text = json.loads((texts / "multilabel" / "test.jsonl").read_text().splitlines()[0])["text"]
    prediction = predictor.predict([text], top_k=5)[0]
    probabilities = {name: p for name, p in prediction.topics}
    for name, p in prediction.labels:  # every decided label clears its own threshold
        assert p >= float(thresholds[predictor.topic_names.index(name)]) - 1e-6
        assert name not in probabilities or probabilities[name] == pytest.approx(p)
    served, info = served_answer(best, text)  # the server decides as the predictor does, with the thresholds
    assert [(entry["label"], pytest.approx(entry["probability"])) for entry in served["labels"]] == list(
        prediction.labels
    )
    assert info["multi_label"] is True and info["labels"] == list(predictor.topic_names)


def vocabulary_size(checkpoint: Path) -> int:
    return torch.load(checkpoint, weights_only=True)["hyper_parameters"]["vocab_size"]


def served_answer(checkpoint: Path, text: str) -> tuple[dict, dict]:
    """``POST /predict`` and ``GET /info`` of the serving app, in process."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from lightning_seq.serve.app import create_app
    from lightning_seq.serve.settings import ServeSettings

    app = create_app(ServeSettings((str(checkpoint),)))
    with TestClient(app, base_url="http://localhost") as client:  # a Host name the app serves
        response = client.post("/predict", json={"texts": [text], "top_k": 5})
        assert response.status_code == 200, response.text
        return response.json()["predictions"][0], client.get("/info").json()


def test_a_tune_trial_runs_on_a_text_files_config_unchanged(texts: Path, tmp_path: Path) -> None:
    overlay = tmp_path / "data.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {"data": {"class_path": "lightning_seq.TextFilesDataModule",
                      "init_args": {"train_file": str(texts / "train.csv"), "test_file": str(texts / "test.csv")}}}
        )
    )  # fmt: skip
    result = run(
        "tune.py", "--config", str(CONFIGS / "gru.yaml"), "--config", str(overlay),
        "--space", str(CONFIGS / "search" / "seed.yaml"), "--trials", "1", "--out", str(tmp_path / "tune"), *TINY,
        cwd=tmp_path,
    )  # fmt: skip
    trials = (tmp_path / "tune" / "data-seed" / "trials.csv").read_text().splitlines()  # <last config>-<space>
    assert len(trials) == 2 and trials[1].startswith("0,complete,"), result.stdout


def test_class_weights_balanced_and_named() -> None:
    counts, names = [90, 9, 1, 0], ("a", "b", "c", "d")
    balanced = class_weight_tensor("balanced", counts, names)
    assert balanced.tolist() == pytest.approx([100 / 360, 100 / 36, 100 / 4, 1.0])
    assert class_weight_tensor("sqrt_balanced", counts, names).tolist() == pytest.approx((balanced**0.5).tolist())
    assert class_weight_tensor({"c": 5.0}, counts, names).tolist() == [1.0, 1.0, 5.0, 1.0]
    with pytest.raises(BadValue, match=r"class_weights names \['zz'\], which are not labels"):
        class_weight_tensor({"zz": 2.0}, counts, names)


def test_class_weights_reach_the_training_loss_only(texts: Path, tmp_path: Path) -> None:
    from lightning_seq.cli.lightning_cli import run as run_cli

    cli = run_cli(
        ["--config", str(CONFIGS / "gru.yaml"), "--data", "TextFilesDataModule",
         "--data.train_file", str(texts / "train.csv"), "--data.test_file", str(texts / "test.csv"),
         "--model.class_weights", "balanced", "--trainer.default_root_dir", str(tmp_path), *TINY,
         "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1", "--trainer.limit_test_batches", "1"]
    )  # fmt: skip
    weights, counts = cli.model.loss_weights.cpu(), cli.datamodule.label_counts()
    rarest = min((count, index) for index, count in enumerate(counts) if count > 0)[1]
    assert weights[counts.argmax()] < 1 < weights[rarest]
