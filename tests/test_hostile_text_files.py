"""Hostile own-data files: special files, endless lines, secrets in a header, odd labels and encodings.

Each case runs the way a user meets it, through ``scripts/fit.py`` (a subprocess where the old behaviour would
block or eat the machine, else its ``main`` in process), and expects exit status 2, one line ``error: ...`` naming
the file and the fix, no traceback and no run directory; the reading options other front doors use
(``flag_prefix``, ``quote_content``, ``allow_empty``) are checked on :func:`read_rows` itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lightning_seq.cli.lightning_cli import main as fit_script_main
from lightning_seq.data import text_files
from lightning_seq.data.text_datamodule import TextFilesDataModule
from lightning_seq.data.text_files import Columns, read_rows
from lightning_seq.errors import BadValue, excerpt

from .conftest import REPO_ROOT

FIT = [sys.executable, str(REPO_ROOT / "scripts" / "fit.py")]
ROWS = "text,label\nwheat corn harvest rose,grain\noil crude prices fell,crude\n"


def fit_args(tmp_path: Path, train: Path | str) -> list[str]:
    runs = tmp_path / "runs"
    return ["--data", "TextFilesDataModule", "--data.train_file", str(train), "--trainer.default_root_dir", str(runs)]


def refused_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str], train: Path | str, *extra: str) -> str:
    """``scripts/fit.py``'s ``main`` on ``train``: exit 2 and one ``error:`` line, returned without the prefix."""
    with pytest.raises(SystemExit) as stopped:
        fit_script_main([*fit_args(tmp_path, train), *extra])
    assert stopped.value.code == 2
    return _one_error_line(capsys.readouterr().err, tmp_path)


def refused_in_subprocess(tmp_path: Path, train: Path | str, *extra: str, env: dict | None = None) -> str:
    result = subprocess.run(
        [*FIT, *fit_args(tmp_path, train), *extra], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 2, result.stderr[-2000:]
    return _one_error_line(result.stderr, tmp_path)


def _one_error_line(stderr: str, tmp_path: Path) -> str:
    assert "Traceback" not in stderr, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and stderr.rstrip("\n").endswith(errors[0]), stderr[-2000:]
    assert not (tmp_path / "runs").exists()  # nothing written
    return errors[0].removeprefix("error: ")


# -- special files and endless lines -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["dev-zero", "dev-zero-as-csv", "link-to-dev-zero", "fifo"])
def test_a_file_that_never_ends_or_blocks_is_refused_before_it_is_read(tmp_path: Path, kind: str) -> None:
    train, extra, what = "/dev/zero", [], "a character device"
    if kind == "dev-zero-as-csv":
        extra = ["--data.format", "csv"]
    elif kind == "link-to-dev-zero":
        train = tmp_path / "train.csv"
        train.symlink_to("/dev/zero")
    elif kind == "fifo":
        train, what = tmp_path / "train.csv", "a FIFO"
        os.mkfifo(train)  # nobody writes to it: opening it for reading would block forever
    message = refused_in_subprocess(tmp_path, train, *extra)
    assert message.startswith(f"{train} is not a regular file (it is {what})")


@pytest.mark.parametrize("fmt", ["csv", "unclosed-quote", "jsonl", "fasttext", "folder"])
def test_a_line_past_the_limit_is_refused_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setattr(text_files, "MAX_LINE_CHARS", 1000)
    long = "word " * 400  # 2,000 characters
    if fmt == "folder":
        train = tmp_path / "texts"
        for label in ("a", "b"):
            (train / label).mkdir(parents=True)
            (train / label / "1.txt").write_text("fine text")
        (train / "b" / "2.txt").write_text(long)
        message = refused_in_process(tmp_path, capsys, train)
        assert message.startswith(f"{train / 'b' / '2.txt'}: runs past 1,000 characters")
        return
    train = tmp_path / {"jsonl": "t.jsonl", "fasttext": "t.txt"}.get(fmt, "t.csv")
    lines = {
        "csv": ["text,label", "fine text,a", f"{long},b"],
        "unclosed-quote": ["text,label", "fine text,a", '"a quote never closed,b', *["more text,a"] * 300],
        "jsonl": [json.dumps({"text": "fine", "label": "a"}), json.dumps({"text": long, "label": "b"})],
        "fasttext": ["__label__a fine text", f"__label__b {long}"],
    }[fmt]
    train.write_text("\n".join(lines) + "\n")
    message = refused_in_process(tmp_path, capsys, train)
    line = 2 if fmt in ("jsonl", "fasttext") else 3
    if fmt == "unclosed-quote":  # the quoted field swallows the lines after it until the row passes the limit
        line += (1000 - len('"a quote never closed,b\n')) // len("more text,a\n") + 1
    assert message.startswith(f"{train} line {line}: ")
    assert "runs past 1,000 characters" in message and "shorten or split it" in message


def test_a_line_within_the_limit_is_read_whole(tmp_path: Path) -> None:
    text = "word " * 40_000  # 200,000 characters: past the csv module's default field limit, within ours
    train = tmp_path / "t.csv"
    train.write_text(f'text,label\n"{text}",a\nshort one,b\n')
    assert [row.text for row in read_rows(train)] == [text, "short one"]


# -- what a message may quote ------------------------------------------------------------------------------------


def test_the_environment_read_as_a_header_is_not_disclosed(tmp_path: Path) -> None:
    secret = "hunter2-" + "s3cr3t" * 10
    env = {"A": "1", **os.environ, "PADDING_VARIABLE": "p" * 100, "ZZ_API_TOKEN": secret}  # the secret comes last
    message = refused_in_subprocess(tmp_path, "/proc/self/environ", "--data.format", "csv", env=env)
    assert message.startswith("/proc/self/environ: no column --data.text_column 'text'")
    assert "hunter2" not in message and "s3cr3t" not in message
    assert len(message) < 600 and "\\x00" in message  # escaped, not raw NUL bytes


def test_header_names_and_json_keys_are_short_escaped_excerpts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["\x1b[2J\x1b[31mred", "x" * 500, *[f"column_{i}" for i in range(60)]]
    train = tmp_path / "t.csv"
    train.write_text(",".join(names) + "\n" + ",".join("v" for _ in names) + "\n")
    message = refused_in_process(tmp_path, capsys, train)
    assert "\x1b" not in message and "'\\x1b[2J\\x1b[31mred'" in message
    assert "x" * 41 not in message and "more]" in message and len(message) < 400
    jsonl = tmp_path / "t.jsonl"
    keys = {f"key_{'k' * 100}_{i}": "secret value" for i in range(50)}
    jsonl.write_text(json.dumps({**keys, "label": "a"}) + "\n")
    message = refused_in_process(tmp_path, capsys, jsonl)
    assert message.startswith(f"{jsonl} line 1: no key --data.text_column 'text'; it has [")
    assert "secret value" not in message and len(message) < 400


def test_quote_content_false_names_the_file_and_line_only(tmp_path: Path) -> None:
    cases = {  # file: (content, how the message starts, what the default quotes and this one must not)
        "t.csv": (
            "body,category\nwords,x\n",
            "t.csv: no column --data.text_column 'text', --data.label_column",
            "body",
        ),
        "bytes.csv": (b"text,label\nsecr\xe9t words,x\n", "bytes.csv line 2: bytes are not utf-8", "\\xe9t"),
        "dup.csv": ("text,secret,secret,label\na,b,c,d\n", "dup.csv: the header repeats column names; give", "secret"),
        "label.csv": ("text,label\nwords, \n", "label.csv line 2: empty label; every row needs a label", "' '"),
        "list.jsonl": (
            '{"text": "words", "label": ["secret", ""]}\n',
            "list.jsonl line 1: an empty label in",
            "secret",
        ),
        "keys.jsonl": ('{"secret": "words", "label": "a"}\n', "keys.jsonl line 1: no key --data.text_column", "secret"),
    }
    for name, (content, start, quoted_part) in cases.items():
        path = tmp_path / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
        with pytest.raises(BadValue) as error:
            list(read_rows(path, quote_content=False))
        message = str(error.value)
        assert message.startswith(str(tmp_path / start)), message
        assert "secr" not in message and "body" not in message and "category" not in message, message
        with pytest.raises(BadValue) as quoted:
            list(read_rows(path))
        assert quoted_part in str(quoted.value)  # the default quotes a short excerpt


def test_excerpt_is_short_and_escaped() -> None:
    assert excerpt("text") == "'text'" and excerpt("it's") == "'it\\'s'"
    cut = excerpt("\n\r\t\x00é" * 50)
    assert cut.endswith("'...") and len(cut) <= 40 + 5 and cut.isprintable() and cut.isascii()


# -- labels, headers and columns ---------------------------------------------------------------------------------


@pytest.mark.parametrize("labels", [["  "], ["a", ""]])
def test_a_blank_label_in_a_json_list_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], labels: list[str]
) -> None:
    train = tmp_path / "t.jsonl"
    rows = [{"text": "wheat rose", "label": ["grain"]}, {"text": "oil fell", "label": labels}]
    train.write_text("".join(json.dumps(row) + "\n" for row in rows))
    message = refused_in_process(tmp_path, capsys, train)
    assert message.startswith(f"{train} line 2: an empty label in the label list {excerpt(json.dumps(labels))}")


def test_repeated_header_names_are_refused_naming_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = tmp_path / "t.csv"
    train.write_text("id, text ,label,text,id,body\n1,a,x,b,2,c\n")
    message = refused_in_process(tmp_path, capsys, train)
    assert message == f"{train}: the header repeats column names ['id', 'text']; give each column its own name " + (
        "(which one is meant is not clear)"
    )


def test_a_labels_key_is_read_when_label_is_absent(tmp_path: Path) -> None:
    train = tmp_path / "t.jsonl"
    rows = [("wheat rose", ["grain", "wheat"]), ("oil fell", ["crude"]), ("corn rose", ["grain"])]
    train.write_text("".join(json.dumps({"text": text, "labels": labels}) + "\n" for text, labels in rows))
    assert [row.labels for row in read_rows(train)] == [("grain", "wheat"), ("crude",), ("grain",)]
    data = TextFilesDataModule(train_file=str(train), val_split=0.0)
    assert data.multi_label and data.label_names == ("crude", "grain", "wheat")
    both = tmp_path / "both.jsonl"
    both.write_text('{"text": "wheat rose", "label": "grain", "labels": ["x"]}\n')
    assert [row.labels for row in read_rows(both)] == [("grain",)]  # "label" itself wins
    with pytest.raises(BadValue, match=r"no key --data.label_column 'topic'"):
        list(read_rows(train, columns=Columns(label="topic")))  # a named key is never swapped


@pytest.mark.parametrize(
    ("header", "flags", "suggested", "never"),
    [
        ("id,body,label", [], "(e.g. --data.text_column body)", ["text_column id", "text_column label"]),
        ("id,label,review text", [], "(e.g. --data.text_column 'review text')", ["text_column id"]),
        ("id,label", [], None, ["text_column id", "text_column label"]),
        ("id,text,category", [], "(e.g. --data.label_column category)", ["text_column id", "label_column id"]),
        ("id,text,topic", ["--data.text_column", "id"], "(e.g. --data.label_column topic)", ["label_column text"]),
        ("uid,text", [], None, ["text_column", "label_column uid", "label_column text"]),
    ],
)
def test_a_missing_column_suggests_only_a_plausible_one(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    header: str,
    flags: list[str],
    suggested: str | None,
    never: list[str],
) -> None:
    train = tmp_path / "t.csv"
    train.write_text(header + "\n" + ",".join(["1", "some words", "x"][: header.count(",") + 1]) + "\n")
    message = refused_in_process(tmp_path, capsys, train, *flags)
    assert message.startswith(f"{train}: no column --data.")
    if suggested is None:
        assert "(e.g." not in message
    else:
        assert message.endswith(suggested)
    assert not any(f"e.g. --data.{wrong}" in message for wrong in never), message


def test_predict_spells_its_own_flags(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id,body\n1,words\n")
    with pytest.raises(BadValue) as error:
        list(read_rows(path, columns=Columns(label=None), flag_prefix="--"))
    assert "no column --text_column 'text'" in str(error.value) and "(e.g. --text_column body)" in str(error.value)
    odd = tmp_path / "in.dat"
    odd.write_text("just words\n")
    with pytest.raises(BadValue, match="pass --format csv"):
        list(read_rows(odd, flag_prefix="--"))
    with pytest.raises(BadValue, match=r"^--encoding 'rot13': not a text encoding"):
        list(read_rows(path, encoding="rot13", flag_prefix="--"))


def test_allow_empty_yields_a_row_without_words(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('text\nwheat rose\n...\n""\n')
    assert [row.text for row in read_rows(path, columns=Columns(label=None), allow_empty=True)] == [
        "wheat rose",
        "...",
        "",
    ]
    with pytest.raises(BadValue, match=r"line 3: the text is empty"):
        list(read_rows(path, columns=Columns(label=None)))


# -- encodings ---------------------------------------------------------------------------------------------------


def test_a_utf16_training_file_beside_a_utf8_test_file_is_one_line(tmp_path: Path) -> None:
    rows = "".join(f"{text},{label}\n" for text, label in [("wheat corn rose", "grain"), ("oil fell", "crude")] * 6)
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("text,label\n" + rows, encoding="utf-16")
    test.write_text("text,label\n" + rows, encoding="utf-8")
    tiny = ["--model.hidden_size", "8", "--model.embedding_dim", "8", "--trainer.max_epochs", "1"]
    tiny += ["--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1", "--data.batch_size", "4"]
    tiny += ["--trainer.enable_progress_bar", "false", "--data.encoding", "utf-16"]  # the presets' TensorBoard logger
    result = subprocess.run(
        [*FIT, *fit_args(tmp_path, train), "--data.test_file", str(test), *tiny],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {test} line 1: not utf-16 text ('UTF-16 stream does not start with BOM')")
    assert "--data.encoding applies to every file" in last and "convert this one to utf-16" in last
    # the test file is read before the run starts: nothing trained, no run directory, no event file, no checkpoint
    assert "Epoch 1/1" not in result.stdout + result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*")), list(
        (tmp_path / "runs").rglob("*")
    )


def test_utf16_text_is_read_and_its_bad_bytes_are_located(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(ROWS, encoding="utf-16")
    assert [row.labels for row in read_rows(path, encoding="utf-16")] == [("grain",), ("crude",)]
    broken = tmp_path / "broken.csv"
    broken.write_bytes(ROWS.encode("utf-16") + b"\x00\xd8" + "x,y\n".encode("utf-16-le"))  # a lone surrogate
    with pytest.raises(BadValue, match=r"broken.csv line 4: bytes b'\\x00\\xd8.*' are not utf-16"):
        list(read_rows(broken, encoding="utf-16"))


def test_a_codec_that_is_not_a_text_encoding_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = tmp_path / "t.csv"
    train.write_text(ROWS)
    message = refused_in_process(tmp_path, capsys, train, "--data.encoding", "base64")
    assert message.startswith("--data.encoding 'base64': not a text encoding Python knows")


# -- folders -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("odd", ["folder", "dangling-link", "fifo"])
def test_a_txt_entry_that_is_not_a_text_file_in_a_label_folder_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], odd: str
) -> None:
    train = tmp_path / "texts"
    for label in ("grain", "crude"):
        (train / label).mkdir(parents=True)
        (train / label / "1.txt").write_text(f"{label} words")
    entry = train / "grain" / "x.txt"
    if odd == "folder":
        entry.mkdir()
        expected = f"{entry} is a folder, not a text file"
    elif odd == "dangling-link":
        entry.symlink_to(tmp_path / "gone.txt")
        expected = f"{entry} is a symbolic link to nothing"
    else:
        os.mkfifo(entry)  # in a subprocess: reading it used to block forever
        expected = f"{entry} is not a regular file (it is a FIFO)"
        assert refused_in_subprocess(tmp_path, train).startswith(expected)
        return
    assert refused_in_process(tmp_path, capsys, train).startswith(expected)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data.encoding", "no-such-codec"], "--data.encoding 'no-such-codec': not a text encoding Python knows"),
        (["--data.label_separator", ""], "--data.label_separator must not be empty"),
    ],
)
def test_what_the_datamodule_refuses_while_it_is_built_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    """A DataModule's own refusal at construction came back wrapped in jsonargparse's Union error, a traceback."""
    train = tmp_path / "train.csv"
    train.write_text(ROWS)
    assert refused_in_process(tmp_path, capsys, train, *extra).startswith(message)


def test_a_text_files_fit_without_a_training_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        fit_script_main(["--data", "TextFilesDataModule", "--trainer.default_root_dir", str(tmp_path)])
    assert stopped.value.code == 2
    assert _one_error_line(capsys.readouterr().err, tmp_path).startswith("--data.train_file is required")


def test_a_fit_that_would_test_without_a_test_file_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It trained the whole run, then said there was no test file."""
    train = tmp_path / "train.csv"
    train.write_text("text,label\n" + "wheat corn rose,grain\noil fell,crude\n" * 6)
    message = refused_in_process(tmp_path, capsys, train)
    assert message.startswith("no --data.test_file to test the best checkpoint on after fitting")
    assert message.endswith("or pass --test_after_fit false to fit only")
