"""A checkpoint from a stranger names the data files test and export read: they must never show what a local file
holds, read only regular files, and name the checkpoint's file by its path with the option to give one's own."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from lightning_seq.cli import export
from lightning_seq.cli.lightning_cli import main as lightning_main
from lightning_seq.cli.predict import main as predict_main

from .helpers.tiny_text_run import crafted, fit_tiny_run, run_script, write_texts

SECRET = "hunter2-xyz"
TEST_FIX = "pass --data.test_file FILE with your own test texts"
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="/proc/self/environ and /dev/zero are Linux's")
EXPORT_FIX = "pass --test_file FILE with your own labelled texts, or --check_batches 0 to skip the check"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_tiny_run(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def own_test_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_texts(tmp_path_factory.mktemp("own"))[1]


def door_args(checkpoint: Path, out: Path) -> list[str]:
    return ["--ckpt", str(checkpoint), "--out", str(out)]


def one_line_error(door, capsys: pytest.CaptureFixture) -> tuple[str, str]:
    """The door's exit status must be 2; returns (its last stderr line, all it printed)."""
    with pytest.raises(SystemExit) as exit_:
        door()
    captured = capsys.readouterr()
    assert exit_.value.code == 2, captured.err[-2000:]
    return captured.err.strip().splitlines()[-1], captured.out + captured.err


def test_the_environment_of_the_process_is_never_printed(checkpoint: Path, tmp_path: Path) -> None:
    """/proc/self/environ as the test file: the whole environment, secrets included, was the message."""
    hostile = crafted(checkpoint, tmp_path / "environ.ckpt", "/proc/self/environ")
    env = {"SECRET_TOKEN": SECRET}
    tested = run_script("test.py", "--ckpt", str(hostile), "--out", str(tmp_path / "evaluation"), env=env)
    exported = run_script("export.py", "--ckpt", str(hostile), "--out", str(tmp_path / "model.onnx"), env=env)
    for result, fix in ((tested, TEST_FIX), (exported, EXPORT_FIX)):
        assert result.returncode == 2, result.stderr[-2000:]
        assert SECRET not in result.stdout + result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: the checkpoint names test_file /proc/self/environ, which cannot be used as")
        assert "its content is not shown" in last and last.endswith(fix)
    assert not (tmp_path / "evaluation").exists() and not (tmp_path / "model.onnx").exists()


@pytest.mark.parametrize("secret_file", ["/etc/passwd", "/etc/shadow"])
def test_a_system_file_is_named_by_its_path_never_quoted(
    secret_file: str, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    if not os.access(secret_file, os.R_OK):
        pytest.skip(f"{secret_file} cannot be read here, so it could not leak either")
    first_line = Path(secret_file).read_text(errors="replace").splitlines()[0]
    hostile = crafted(checkpoint, tmp_path / "hostile.ckpt", secret_file)
    doors = {
        "test": lambda: lightning_main(door_args(hostile, tmp_path / "evaluation"), command="test"),
        "validate": lambda: lightning_main(["validate", *door_args(hostile, tmp_path / "evaluation")]),
        "ensemble test": lambda: lightning_main(
            ["--ckpt", str(hostile), "--ckpt", str(checkpoint), "--out", str(tmp_path / "ensemble")], command="test"
        ),
        "export": lambda: export.main(["--ckpt", str(hostile), "--out", str(tmp_path / "model.onnx")]),
    }
    for name, door in doors.items():
        last, printed = one_line_error(door, capsys)
        assert first_line not in printed and first_line.split(":")[0] + ":x:" not in printed, name
        setting = "val_file" if name == "validate" else "test_file"
        assert last.startswith(f"error: the checkpoint names {setting} {secret_file}, which cannot be used"), name
        option = "--data.val_file" if name == "validate" else "--data.test_file" if "test" in name else "--test_file"
        assert f"pass {option} FILE" in last, name
    assert not [path.name for path in tmp_path.iterdir() if path.name != "hostile.ckpt"]  # nothing written


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo"])
def test_a_device_or_fifo_is_refused_at_once(kind: str, checkpoint: Path, tmp_path: Path) -> None:
    """/dev/zero was read without end; a FIFO blocks the first read until someone writes to it."""
    path = kind
    if kind == "fifo":
        path = str(tmp_path / "fifo.csv")
        os.mkfifo(path)
    hostile = crafted(checkpoint, tmp_path / "hostile.ckpt", path)
    for script, fix in (("test.py", TEST_FIX), ("export.py", EXPORT_FIX)):
        result = run_script(script, "--ckpt", str(hostile), "--out", str(tmp_path / "out.onnx"), timeout=60)
        assert result.returncode == 2, result.stderr[-2000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last == f"error: the checkpoint names test_file {path}, which is not a regular file here; {fix}"


def test_directories_missing_files_and_odd_paths_are_one_line(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "notes.txt").write_text("password=swordfish\n")
    cases = {
        # a run of CSV files: a directory is no regular file
        (str(folder), "csv"): "which is not a regular file here",
        # a folder-of-texts run reads a directory, but what it holds is not quoted either
        (str(folder), "auto"): "which cannot be used as the run's test data",
        ("/nonexistent/test.csv", "csv"): "which does not exist here",
        ("a\x00b\n\x1b[31m.csv", "csv"): r"'a\x00b\n\x1b[31m.csv', which is not a file path",
    }
    for (path, fmt), expected in cases.items():
        hostile = crafted(checkpoint, tmp_path / "hostile.ckpt", path, fmt)
        door = door_args(hostile, tmp_path / "evaluation")
        last, printed = one_line_error(lambda door=door: lightning_main(door, command="test"), capsys)
        assert expected in last and last.endswith(TEST_FIX), (path, last)
        assert "swordfish" not in printed and "\x1b" not in printed
    hostile = crafted(checkpoint, tmp_path / "hostile.ckpt", 7)
    last, _ = one_line_error(lambda: lightning_main(door_args(hostile, tmp_path / "ev"), command="test"), capsys)
    assert last == f"error: {hostile} records train_file as a int, not a file path"
    assert not (tmp_path / "evaluation").exists() and not (tmp_path / "ev").exists()


def test_the_users_own_file_replaces_the_checkpoints(
    checkpoint: Path, own_test_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The options the messages name work: test, the ensemble test and export run on the user's file."""
    hostile = crafted(checkpoint, tmp_path / "hostile.ckpt", "/proc/self/environ")
    metrics = lightning_main(
        [*door_args(hostile, tmp_path / "evaluation"), "--data.test_file", str(own_test_file)], command="test"
    )
    assert 0 <= metrics["test/acc"] <= 1 and (tmp_path / "evaluation" / "test_metrics.json").is_file()
    ensemble = ["--ckpt", str(hostile), "--ckpt", str(checkpoint), "--data.test_file", str(own_test_file)]
    assert set(lightning_main([*ensemble, "--out", str(tmp_path / "ensemble")], command="test")) >= {"test/acc"}
    model = export.main(["--ckpt", str(hostile), "--out", str(tmp_path / "m.onnx"), "--test_file", str(own_test_file)])
    assert model.is_file() and "Parity on 10 real test items" in capsys.readouterr().out


def test_a_file_the_user_names_keeps_its_usual_message(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Only a checkpoint's choice is kept quiet: the user's own bad file is shown as before, line and all."""
    bad = tmp_path / "mine.csv"
    bad.write_text("body,topic\nwheat rose,grain\n")
    door = [*door_args(checkpoint, tmp_path / "evaluation"), "--data.test_file", str(bad)]
    last, _ = one_line_error(lambda: lightning_main(door, command="test"), capsys)
    assert last.startswith(f"error: {bad}: no column") and "the checkpoint names" not in last


def test_a_missing_checkpoint_file_at_export_falls_back_to_validation_rows_then_says_so(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A run's files that are not on this machine (the checkpoint moved) are not an attack: the check skips on."""
    moved = crafted(checkpoint, tmp_path / "moved.ckpt", str(tmp_path / "gone.csv"))
    last, _ = one_line_error(lambda: export.main(["--ckpt", str(moved), "--out", str(tmp_path / "m.onnx")]), capsys)
    assert last.startswith("error: none of the run's files") and last.endswith(EXPORT_FIX)
    assert export.main(["--ckpt", str(moved), "--out", str(tmp_path / "m.onnx"), "--check_batches", "0"]).is_file()


def test_a_resumed_fit_reads_no_file_its_checkpoints_hyperparameters_name(checkpoint: Path, tmp_path: Path) -> None:
    """``fit --ckpt_path`` takes the model's hyperparameters from the checkpoint: word vectors or an encoder it
    names (here the environment) are not read, since the weights come from the checkpoint itself."""
    import torch

    saved = torch.load(checkpoint, weights_only=True)
    saved["hyper_parameters"] |= {"embeddings": "/proc/self/environ", "embeddings_format": "word2vec"}
    hostile = tmp_path / "hostile.ckpt"
    torch.save(saved, hostile)
    data = saved["datamodule_hyper_parameters"]
    train, test = data["train_file"], data["test_file"]  # resuming needs the run's own data
    resumed = run_script(
        "fit.py", "--data", "TextFilesDataModule", "--data.train_file", str(train), "--data.test_file", str(test),
        "--data.batch_size", "8", "--max_epochs", "2", "--hidden_size", "8", "--model.embedding_dim", "8",
        "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2", "--trainer.enable_progress_bar",
        "false", "--trainer.default_root_dir", str(tmp_path / "runs"), "--ckpt_path", str(hostile),
        env={"SECRET_TOKEN": SECRET}, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert SECRET not in resumed.stdout + resumed.stderr and "Pretrained embeddings" not in resumed.stdout
    assert "Epoch 2/2" in resumed.stdout + resumed.stderr  # it did resume and train its last epoch


def test_a_test_file_for_a_reuters_checkpoint_is_one_line_and_a_data_dir_for_a_text_run_is_ignored(
    gru_checkpoint: Path, checkpoint: Path, own_test_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``--test_file`` belongs to runs on one's own texts (a Reuters run has its split); ``--data_dir`` to Reuters."""
    out = tmp_path / "m.onnx"
    last, _ = one_line_error(
        lambda: export.main(["--ckpt", str(gru_checkpoint), "--out", str(out), "--test_file", str(own_test_file)]),
        capsys,
    )
    assert last.startswith("error: a test file (") and "is a Reuters run" in last and not out.exists()
    ensemble = ["--ckpt", str(gru_checkpoint), "--ckpt", str(gru_checkpoint), "--data.test_file", str(own_test_file)]
    last, _ = one_line_error(lambda: lightning_main([*ensemble, "--out", str(tmp_path / "e")], command="test"), capsys)
    assert "is a Reuters run" in last
    predict_main(["--ckpt", str(checkpoint), "--text", "wheat corn harvest", "--data_dir", str(tmp_path)])
    assert "grain" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": None}, "its labels are not a list of two or more names"),
        ({"labels": ["a", "b", "c"]}, "it names 3 labels for a model of 2 classes"),
        ({"labels": ["a", "a"]}, "its labels repeat a name"),
        ({"words": 5}, "its vocabulary is not a list of words"),
        ({"words": None}, "its vocabulary is not a list of words"),
        ({"words": ["wheat"]}, "its vocabulary of 1 words does not fit a model of vocab_size"),
        ({"multi_label": "yes"}, "its multi_label or subword setting has the wrong type"),
    ],
)
def test_a_checkpoint_whose_vocabulary_or_labels_were_altered_is_one_line_at_every_door(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture, change: dict, message: str
) -> None:
    import torch

    saved = torch.load(checkpoint, weights_only=True)
    saved["TextFilesDataModule"] |= change
    altered = tmp_path / "altered.ckpt"
    torch.save(saved, altered)
    doors = {
        "predict": lambda: predict_main(["--ckpt", str(altered), "--text", "wheat corn"]),
        "test": lambda: lightning_main(door_args(altered, tmp_path / "evaluation"), command="test"),
        "export": lambda: export.main(["--ckpt", str(altered), "--out", str(tmp_path / "m.onnx")]),
    }
    for door in doors.values():
        last, _ = one_line_error(door, capsys)
        assert last == f"error: {altered}: {message}; it was not written by this package's fit, or was altered" or (
            message in last
        ), last
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "evaluation").exists()
