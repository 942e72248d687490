"""Reading a large labelled file and fitting its vocabulary: rows/s, peak memory, and the time to the first
training step, for the text-files DataModule against the plain Python you would otherwise write and against
Hugging Face ``tokenizers`` (a WordLevel model with the same word rules), each in a fresh process.

    python -m lightning_seq.experiments.read_scale --rows 250000 500000 1000000 --out runs/read-scale

The file is the 8,982 Reuters training wires as text, repeated with new ids up to the row count (``--rows``); 20 %
of the rows are held out as validation in every method, and the vocabulary is fitted on the other 80 %.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from lightning_seq.data.reuters_text import reuters_wires

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("lightning_seq", "plain_python", "tokenizers")


def write_rows(path: Path, rows: int) -> Path:
    if path.exists():
        return path
    wires = reuters_wires()["train"]
    temporary = path.with_suffix(".tmp")
    with temporary.open("w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["id", "text", "label"])
        for row in range(rows):
            _, text, topics = wires[row % len(wires)]
            writer.writerow([f"row-{row}", text, topics[0]])
    temporary.rename(path)
    return path


def held_out(rows: int) -> np.ndarray:
    mask = np.zeros(rows, dtype=bool)
    mask[np.random.default_rng(0).permutation(rows)[: round(rows * 0.2)]] = True
    return mask


def run_lightning_seq(path: Path) -> dict:
    from lightning_seq.data.text_datamodule import TextFilesDataModule

    data = TextFilesDataModule(train_file=str(path), val_split=0.2)
    encoded, _ = data._training_rows()  # the fit's read: every row encoded, the vocabulary counted on training rows
    return {"vocabulary": len(data.words), "tokens": len(encoded.tokens)}


def run_plain_python(path: Path) -> dict:
    """What one writes without a streaming encoder: keep the texts, count, then encode to lists of ids."""
    from lightning_seq.data.tokenizer import split_words

    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    mask = held_out(len(rows))
    counts: Counter[str] = Counter()
    for row, is_val in zip(rows, mask, strict=True):
        if not is_val:
            counts.update(split_words(row["text"]))
    vocabulary = {word: rank + 3 for rank, (word, _) in enumerate(counts.most_common())}
    encoded = [[1, *(vocabulary.get(word, 2) for word in split_words(row["text"]))] for row in rows]
    labels = [row["label"] for row in rows]
    return {"vocabulary": len(vocabulary), "tokens": sum(map(len, encoded)), "labels": len(set(labels))}


def run_tokenizers(path: Path) -> dict:
    """Hugging Face tokenizers: a WordLevel model trained from an iterator, then encode_batch in chunks."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

    from lightning_seq.data.tokenizer import FILTERS

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    escaped = "".join("\\" + char if char in r"\^]-[" else char for char in FILTERS)
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Lowercase(), normalizers.Replace(Regex(f"[{escaped}]"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()

    def texts(training: bool):
        with path.open(newline="") as file:
            for row, is_val in zip(csv.DictReader(file), mask, strict=True):
                if training and is_val:
                    continue
                yield row["text"]

    with path.open() as file:
        rows = sum(1 for _ in file) - 1
    mask = held_out(rows)
    trainer = trainers.WordLevelTrainer(special_tokens=["[PAD]", "[START]", "[UNK]"], vocab_size=10**9)
    tokenizer.train_from_iterator(texts(True), trainer=trainer)
    chunk: list[str] = []
    stored = []
    for text in texts(False):
        chunk.append(text)
        if len(chunk) == 4096:
            stored += [np.array(e.ids, dtype=np.int32) for e in tokenizer.encode_batch(chunk)]
            chunk = []
    stored += [np.array(e.ids, dtype=np.int32) for e in tokenizer.encode_batch(chunk)]
    tokens = sum(len(ids) + 1 for ids in stored)
    return {"vocabulary": tokenizer.get_vocab_size() - 3, "tokens": tokens}


def measure(method: str, path: Path) -> dict:
    """Run one method in a fresh process: seconds and peak resident memory."""
    code = (
        "import json, resource, sys, time\n"
        "from pathlib import Path\n"
        "from lightning_seq.experiments import read_scale\n"
        "start = time.perf_counter()\n"
        f"result = read_scale.run_{method}(Path({str(path)!r}))\n"
        "result['seconds'] = time.perf_counter() - start\n"
        "result['peak_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps(result))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def first_step_seconds(path: Path, out: Path) -> float:
    """The whole `scripts/fit.py` command with one training step: start-up, reading, vocabulary, batches, one step."""
    command = [
        sys.executable, str(ROOT / "scripts" / "fit.py"), "--config", str(ROOT / "configs" / "gru.yaml"),
        "--data", "TextFilesDataModule", "--data.train_file", str(path), "--trainer.max_steps", "1",
        "--trainer.limit_val_batches", "0", "--test_after_fit", "false", "--trainer.enable_progress_bar", "false",
        "--trainer.default_root_dir", str(out),
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[250_000, 500_000, 1_000_000])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--out", type=Path, default=Path("runs/read-scale"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [
        "| rows | file MB | method | seconds | rows/s | peak MiB | vocabulary | tokens |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rows in args.rows:
        path = write_rows(args.out / f"rows-{rows}.csv", rows)
        size = path.stat().st_size / 1e6
        for method in args.methods:
            result = measure(method, path)
            lines.append(
                f"| {rows:,} | {size:,.0f} | {method} | {result['seconds']:.1f} | {rows / result['seconds']:,.0f} | "
                f"{result['peak_mib']:,.0f} | {result['vocabulary']:,} | {result['tokens']:,} |"
            )
            print(lines[-1], flush=True)
    biggest = args.out / f"rows-{max(args.rows)}.csv"
    seconds = first_step_seconds(biggest, args.out / "fit")
    lines += [
        "",
        f"Whole `scripts/fit.py` command to its first training step on {max(args.rows):,} rows: {seconds:.0f} s",
    ]
    (args.out / "read-scale.md").write_text("\n".join(lines) + "\n")
    print(lines[-1])


if __name__ == "__main__":
    main()
