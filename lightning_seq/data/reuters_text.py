"""The Reuters wires as the raw text files a user would bring: CSV, JSON lines, a folder per topic, fastText lines.

The Keras file holds word ids; each wire is written back to its words with ``reuters_word_index.json`` and split as
``load_data()`` splits it (seed 113: 8,982 training wires, 2,246 test wires, in that order), so a model trained
through :class:`~lightning_seq.data.text_datamodule.TextFilesDataModule` sees the same wires as one trained on the
npz. The ``id`` is the wire's position in ``reuters.npz``.

A multi-label set is made from the same wires, whose answer is known: pairs of wires of different topics are joined
into one text labelled with both topics, other wires stay single; training pairs come from training wires only.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from lightning_seq.data import reuters
from lightning_seq.data.files import atomic_file
from lightning_seq.data.sequences import keras_cut, keras_order
from lightning_seq.errors import BadValue, NotWritable

FORMATS = ("csv", "jsonl", "folder", "fasttext")
Wire = tuple[str, str, tuple[str, ...]]  # id, text, topics


def reuters_wires(data_dir: str | None = None, download: bool = True) -> dict[str, list[Wire]]:
    """``{"train": [...], "test": [...]}``: every wire's id, words and topic, in Keras's split and order."""
    raw = reuters.load_raw(data_dir, None, download)
    words = {rank: word for word, rank in reuters.load_word_index(data_dir, download).items()}
    order = keras_order(len(raw))
    cut = keras_cut(len(raw))

    def wire(index: int) -> Wire:
        text = " ".join(words[int(rank)] for rank in raw.sequence(index))
        return f"wire-{index}", text, (reuters.TOPICS[int(raw.labels[index])],)

    return {"train": [wire(i) for i in order[:cut]], "test": [wire(i) for i in order[cut:]]}


def joined_pairs(wires: list[Wire], fraction: float = 0.5, seed: int = 0) -> list[Wire]:
    """About ``fraction`` of the wires joined in pairs of different topics (labels: both topics), the rest single."""
    order = np.random.default_rng(seed).permutation(len(wires))
    paired = round(len(wires) * fraction) // 2 * 2
    rows: list[Wire] = []
    for first, second in zip(order[:paired:2], order[1:paired:2], strict=True):
        a, b = wires[first], wires[second]
        if a[2] == b[2]:  # same topic: the pair would teach nothing multi-label; both stay single
            rows += [a, b]
        else:
            rows.append((f"{a[0]}+{b[0]}", f"{a[1]} {b[1]}", (*a[2], *b[2])))
    rows += [wires[i] for i in order[paired:]]
    return rows


def write_split(rows: list[Wire], directory: Path, split: str, fmt: str) -> Path:
    """One split in one format; returns the file (or folder) written."""
    if fmt == "folder":
        folder = directory / "folder" / split
        for identifier, text, topics in rows:
            path = folder / topics[0] / f"{identifier}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)  # a link left there is replaced, not written through
            with path.open("x", encoding="utf-8") as file:
                file.write(text + "\n")
        return folder
    suffix = {"csv": "csv", "jsonl": "jsonl", "fasttext": "txt"}[fmt]
    path = directory / f"{split}.{suffix}"
    with atomic_file(path) as binary:
        file = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        if fmt == "csv":
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(["id", "text", "label"])
            writer.writerows([identifier, text, "|".join(topics)] for identifier, text, topics in rows)
        elif fmt == "jsonl":
            multi = any(len(topics) > 1 for _, _, topics in rows)  # then every row's labels are a list
            for identifier, text, topics in rows:
                label = list(topics) if multi else topics[0]
                file.write(json.dumps({"id": identifier, "text": text, "label": label}) + "\n")
        else:
            for _, text, topics in rows:
                file.write(" ".join(f"__label__{topic}" for topic in topics) + f" {text}\n")
        file.flush()
        file.detach()  # atomic_file closes (and renames) the file itself
    return path


def _outputs(out: Path, formats: tuple[str, ...], multi_label: bool) -> list[Path]:
    """Every file or folder that :func:`write_reuters_text` writes directly under ``out``."""
    names = {"csv": ["train.csv", "test.csv"], "jsonl": ["train.jsonl", "test.jsonl"], "folder": ["folder"]}
    names["fasttext"] = ["train.txt", "test.txt"]
    paths = [out / name for fmt in formats for name in names[fmt]]
    return paths + (
        [out / "multilabel", out / "multilabel" / "train.jsonl", out / "multilabel" / "test.jsonl"]
        if multi_label
        else []
    )


def check_output_folder(out: Path, formats: tuple[str, ...], multi_label: bool) -> None:
    """Refuse, before anything is read or written, an ``out`` that is not a folder that can be made and written to,
    or one that holds a folder where a file goes (or a file where a folder goes)."""
    if out.is_symlink() and not out.exists():
        raise BadValue(f"--out {out} is a link to nothing ({os.readlink(out)}); give a folder")
    if out.exists() and not out.is_dir():
        raise BadValue(f"--out {out} is not a folder; give a folder (new or existing) for the text files")
    existing = next(parent for parent in (out, *out.parents) if parent.exists() or parent == Path(parent.anchor))
    if not existing.is_dir():
        raise BadValue(f"--out {out}: {existing} is a file, not a folder; give a folder path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise NotWritable(f"--out {out}: cannot write in {existing} (permission denied); choose a writable folder")
    for path in _outputs(out, formats, multi_label):
        wants_folder = path.name in ("folder", "multilabel")
        if path.exists() and path.is_dir() != wants_folder:
            kind = "file" if path.is_dir() else "folder"
            raise BadValue(
                f"--out {out}: {path} is in the way (a {kind} goes there); remove it or choose another --out"
            )


def write_reuters_text(
    out: str | Path, formats: tuple[str, ...] = FORMATS, multi_label: bool = True, data_dir: str | None = None
) -> list[Path]:
    """Train and test files of the Reuters wires in each of ``formats`` under ``out`` (and ``out/multilabel/``)."""
    out = Path(out)
    check_output_folder(out, formats, multi_label)
    wires = reuters_wires(data_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NotWritable(
            f"--out {out}: cannot make the folder ({error.strerror or error}); choose a writable one"
        ) from None
    written = [write_split(rows, out, split, fmt) for fmt in formats for split, rows in wires.items()]
    if multi_label:
        joined = {split: joined_pairs(rows, seed=index) for index, (split, rows) in enumerate(wires.items())}
        written += [write_split(rows, out / "multilabel", split, "jsonl") for split, rows in joined.items()]
    return written
