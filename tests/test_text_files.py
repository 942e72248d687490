"""Own texts: readers, the fitted vocabulary, labels, bad input in one line, and the Reuters-as-text files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lightning_seq.data.reuters_text import joined_pairs, reuters_wires, write_split
from lightning_seq.data.sequences import OOV_ID, START_ID
from lightning_seq.data.text_datamodule import TextFilesDataModule
from lightning_seq.data.text_files import Columns, read_rows
from lightning_seq.errors import BadCheckpoint, BadValue, MissingFile

from .conftest import REPO_ROOT

ROWS = [
    ("r1", "The wheat harvest rose sharply", "grain"),
    ("r2", "Wheat and corn exports rose", "grain"),
    ("r3", "Shares of the company rose after earnings", "earn"),
    ("r4", "Quarterly earnings fell, the company said", "earn"),
    ("r5", "Crude oil prices fell", "crude"),
    ("r6", "Oil output rose; crude stocks fell", "crude"),
]


def write_csv(path: Path, rows: list[tuple[str, str, str]] = ROWS, sep: str = ",") -> Path:
    lines = [sep.join(["id", "text", "label"])] + [sep.join(f'"{field}"' for field in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def every_format(tmp_path: Path) -> dict[str, Path]:
    """The same six rows as CSV, TSV, JSON lines, a folder per label and fastText lines."""
    files = {"csv": write_csv(tmp_path / "t.csv"), "tsv": write_csv(tmp_path / "t.tsv", sep="\t")}
    files["jsonl"] = tmp_path / "t.jsonl"
    files["jsonl"].write_text("".join(json.dumps({"id": i, "text": t, "label": y}) + "\n" for i, t, y in ROWS))
    files["fasttext"] = tmp_path / "t.txt"
    files["fasttext"].write_text("".join(f"__label__{y} {t}\n" for _, t, y in ROWS))
    for identifier, text, label in ROWS:
        (tmp_path / "folder" / label).mkdir(parents=True, exist_ok=True)
        (tmp_path / "folder" / label / f"{identifier}.txt").write_text(text)
    files["folder"] = tmp_path / "folder"
    return files


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "fasttext", "folder"])
def test_every_format_reads_the_same_labelled_texts(every_format: dict[str, Path], fmt: str) -> None:
    rows = list(read_rows(every_format[fmt], columns=Columns(id="id")))
    got = sorted((row.text.split()[0], row.labels) for row in rows)
    assert got == sorted((text.split()[0], (label,)) for _, text, label in ROWS)
    if fmt in ("csv", "tsv", "jsonl"):
        assert [row.id for row in rows] == [identifier for identifier, _, _ in ROWS]


def test_vocabulary_is_fitted_on_training_rows_only_and_unknown_words_keep_a_place(tmp_path: Path) -> None:
    rows = [*ROWS, ("v1", "zanzibar zanzibar wheat", "grain")]
    data = TextFilesDataModule(train_file=str(write_csv(tmp_path / "t.csv", rows)), val_split=0.0)
    assert data.words[:2] == ["rose", "fell"]  # most frequent first (ties: alphabetical)
    assert data.label_names == ("crude", "earn", "grain") and not data.multi_label
    test = write_csv(tmp_path / "test.csv", [("x", "Wheat tariffs zoomed", "grain")])
    data = TextFilesDataModule(train_file=str(write_csv(tmp_path / "t.csv")), test_file=str(test), val_split=0.0)
    data.setup("test")
    tokens = data.datasets["test"].tokens[0, :4].tolist()
    assert tokens[0] == START_ID and tokens[1] == data.vocabulary["wheat"]
    assert tokens[2:] == [OOV_ID, OOV_ID]  # "tariffs" and "zoomed": unknown, not dropped


def test_held_out_rows_do_not_feed_the_vocabulary(tmp_path: Path) -> None:
    rows = [(f"r{i}", f"common word{i}", "a" if i % 2 else "b") for i in range(40)]
    data = TextFilesDataModule(train_file=str(write_csv(tmp_path / "t.csv", rows)), val_split=0.25, val_seed=3)
    data.setup("fit")
    assert len(data.datasets["train"]) == 30 and len(data.datasets["val"]) == 10
    assert len(data.words) == 1 + 30  # "common" and the 30 training rows' own words, none of the held-out ten
    val_tokens = data.datasets["val"].tokens[:, 2]
    assert (val_tokens == OOV_ID).all()


def test_multi_label_from_lists_separators_and_repeated_tags(tmp_path: Path) -> None:
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps({"text": t, "label": [y] + (["extra"] if i % 2 else [])}) + "\n"
            for i, (_, t, y) in enumerate(ROWS)
        )
    )
    data = TextFilesDataModule(train_file=str(jsonl), val_split=0.0)
    data.setup("fit")
    assert data.multi_label and data.label_names == ("crude", "earn", "extra", "grain")
    assert data.datasets["train"].labels.sum().item() == 6 + 3
    separated = write_csv(tmp_path / "s.csv", [(i, t, f"{y}|extra") for i, t, y in ROWS])
    assert TextFilesDataModule(train_file=str(separated), label_separator="|").multi_label
    fasttext = tmp_path / "f.txt"
    fasttext.write_text("".join(f"__label__{y} __label__extra {t}\n" for _, t, y in ROWS))
    assert TextFilesDataModule(train_file=str(fasttext)).label_names == ("crude", "earn", "extra", "grain")


def test_numeric_labels_sort_as_numbers(tmp_path: Path) -> None:
    rows = [(f"r{i}", f"text number {i}", str(label)) for i, label in enumerate([10, 2, 1, 2, 10, 1])]
    assert TextFilesDataModule(train_file=str(write_csv(tmp_path / "t.csv", rows))).label_names == ("1", "2", "10")


BAD_INPUTS = {
    "missing file": (None, "does not exist"),
    "missing column": ("id,body,label\n1,some text,a\n2,more text,b\n", "no column --data.text_column 'text'"),
    "empty file": ("", "holds no rows"),
    "malformed row": ('id,text,label\n1,"some text",a\n2,too,many,fields\n', "line 3: 4 fields where the header has 3"),
    "non-utf8": (
        b"id,text,label\n1,caf\xe9 prices rose,a\n2,text,b\n",
        "line 2: bytes b'\\xe9 pr' are not utf-8; pass --data.encoding",
    ),
    "empty text": ("id,text,label\n1,some text,a\n2, ... ,b\n", "line 3: the text is empty"),
    "single class": ("id,text,label\n1,some text,a\n2,more text,a\n", "a single label ('a')"),
    "bad json": ('{"text": "fine", "label": "a"}\n{"text": "broken", \n', "line 2: not valid JSON"),
    "mixed labels": ('{"text": "one", "label": "a"}\n{"text": "two", "label": ["a", "b"]}\n', "mixes single labels"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_training_input_is_one_line_naming_the_place_and_the_fix(tmp_path: Path, case: str) -> None:
    content, message = BAD_INPUTS[case]
    path = tmp_path / ("train.jsonl" if "json" in case or "labels" in case else "train.csv")
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises((BadValue, MissingFile)) as error:
        TextFilesDataModule(train_file=str(path), val_split=0.0).vocab_size  # noqa: B018
    assert message in str(error.value) and str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_label_only_in_the_test_file_and_a_folder_without_labels_are_refused(tmp_path: Path) -> None:
    test = write_csv(tmp_path / "test.csv", [("x", "gold rose", "gold")])
    data = TextFilesDataModule(train_file=str(write_csv(tmp_path / "t.csv")), test_file=str(test))
    with pytest.raises(BadValue, match=r"test.csv line 2: label 'gold' never occurs in the training file"):
        data.setup("test")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.txt").write_text("text")
    with pytest.raises(BadValue, match="has no subfolders"):
        TextFilesDataModule(train_file=str(tmp_path / "flat")).vocab_size  # noqa: B018


def test_bad_file_through_the_front_door_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "train.csv"
    bad.write_text("id,text,label\n1,some text,a\n2,more,text,b\n")
    command = [sys.executable, str(REPO_ROOT / "scripts" / "fit.py"), "--data", "TextFilesDataModule"]
    command += ["--data.train_file", str(bad), "--trainer.default_root_dir", str(tmp_path / "runs")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {bad} line 3: 4 fields")
    assert "Traceback" not in result.stderr and not (tmp_path / "runs").exists()


def test_reuters_as_text_holds_keras_split_and_the_multi_label_pairs(real_data_dir: Path, tmp_path: Path) -> None:
    wires = reuters_wires(str(real_data_dir))
    assert len(wires["train"]) == 8982 and len(wires["test"]) == 2246
    first = wires["train"][0]
    assert first[0] == "wire-1341" and first[1].startswith("mcgrath rentcorp said") and first[2] == ("earn",)
    joined = joined_pairs(wires["train"])
    pairs = [row for row in joined if len(row[2]) == 2]
    assert len(pairs) > 1500 and all(a != b for _, _, (a, b) in pairs)
    train_ids = {identifier for identifier, _, _ in wires["train"]}
    assert all(part in train_ids for identifier, _, _ in joined for part in identifier.split("+"))
    path = write_split(joined[:50], tmp_path, "train", "jsonl")
    assert TextFilesDataModule(train_file=str(path), val_split=0.0).multi_label


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_a_subword_vocabulary_reads_unseen_words_as_pieces(tmp_path: Path, kind: str) -> None:
    pytest.importorskip("tokenizers")
    from lightning_seq.data.subword import SubwordTokenizer

    rows = [(f"r{i}", f"{text} {text}", label) for i, (_, text, label) in enumerate(ROWS * 5)]
    data = TextFilesDataModule(train_file=str(write_csv(tmp_path / "t.csv", rows)), tokenizer=kind, num_words=200)
    data.setup("fit")
    tokenizer = data.text_tokenizer()
    assert isinstance(tokenizer, SubwordTokenizer) and tokenizer.vocab_size == data.vocab_size <= 200
    assert data.datasets["train"].tokens[:, 0].eq(START_ID).all()
    seen, misspelt = tokenizer.encode("wheat rose"), tokenizer.encode("wheats rosee")
    assert seen.unknown == () and misspelt.unknown == ()  # built from pieces it has seen, not "unknown"
    assert len(misspelt.ids) > len(seen.ids)
    assert "[UNK]" not in data.words and len(data.words) == data.vocab_size - 3


def test_fitting_with_a_checkpoints_vocabulary_encodes_with_it_and_checks_the_labels(tmp_path: Path) -> None:
    import torch

    first = TextFilesDataModule(train_file=str(write_csv(tmp_path / "t.csv")), val_split=0.0)
    checkpoint = tmp_path / "given.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {}, "TextFilesDataModule": first.state_dict()}, checkpoint)
    rows = [(f"n{i}", f"{text} zanzibar", label) for i, (_, text, label) in enumerate(ROWS)]
    data = TextFilesDataModule(train_file=str(write_csv(tmp_path / "new.csv", rows)), vocabulary_from=str(checkpoint))
    data.setup("fit")
    assert data.words == first.words and "zanzibar" not in data.words  # not refitted on the new file
    tokens = [row[row > 0].tolist() for row in (*data.datasets["train"].tokens, *data.datasets["val"].tokens)]
    assert all(row[0] == START_ID and row[-1] == OOV_ID for row in tokens)  # "zanzibar" read as unknown
    other = write_csv(tmp_path / "other.csv", [(i, t, "x" + y) for i, t, y in ROWS])
    with pytest.raises(BadCheckpoint, match="was trained on other labels"):
        TextFilesDataModule(train_file=str(other), vocabulary_from=str(checkpoint)).setup("fit")
