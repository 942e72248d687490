"""The own-data measurements of docs/own-data.md, as one script (3 seeds each, medians; test read once per run):

1. ``configs/gru.yaml`` and ``configs/fast.yaml`` on the Reuters npz and on the same wires as a CSV file read by the
   text-files DataModule (its own vocabulary);
2. class weights on ``configs/gru.yaml`` (npz): none against balanced, with accuracy, macro-F1 and how many topics are
   never predicted correctly;
3. multi-label on joined wires (``configs/fast.yaml`` + ``configs/data/reuters-multilabel.yaml``) against models that
   predict one label only: the same model's top label, and the single-label text model of (1);
4. word against subword (BPE, WordPiece) vocabularies of the same size, on the test wires and on them with typing
   slips.

    python -m lightning_seq.experiments.own_data --out runs/own-data      # writes runs/own-data/own-data.md

Every fit is ``scripts/fit.py`` in its own process, as a user runs it.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torchmetrics.classification import MultilabelExactMatch, MultilabelF1Score

from lightning_seq.data.reuters_text import write_reuters_text
from lightning_seq.inference.predictor import TopicPredictor

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (42, 43, 44)


def fit(out: Path, args: Sequence[str]) -> Path:
    """One ``scripts/fit.py`` run under ``out``; returns its run directory (reused when it already finished)."""
    done = list(out.glob("lightning_logs/*/version_0/test_metrics.json"))
    if done:
        return done[0].parent
    command = [sys.executable, str(ROOT / "scripts" / "fit.py"), *args, "--trainer.default_root_dir", str(out)]
    command += ["--trainer.enable_progress_bar", "false"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    run_dir = next(out.glob("lightning_logs/*/version_0/test_metrics.json")).parent
    (run_dir / "wall_seconds.txt").write_text(f"{time.perf_counter() - started:.1f}\n")
    return run_dir


def scores(run_dir: Path) -> dict[str, float]:
    metrics = json.loads((run_dir / "test_metrics.json").read_text())
    report = json.loads((run_dir / "test_report.json").read_text())
    never = sum(1 for row in report["classes"] if row["support"] > 0 and row["recall"] == 0)
    return {**metrics, "never_right": never, "seconds": float((run_dir / "wall_seconds.txt").read_text())}


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def spread(runs: list[dict[str, float]], key: str, digits: int = 3) -> str:
    values = sorted(run[key] for run in runs)
    return f"**{statistics.median(values):.{digits}f}** ({', '.join(f'{v:.{digits}f}' for v in values)})"


def single_label_scores(predictor: TopicPredictor, test: Path, top_label_only: bool) -> dict[str, float]:
    """Multi-label test scores of ``predictor`` on the joined texts; ``top_label_only`` keeps one label per text."""
    rows = [json.loads(line) for line in test.read_text().splitlines()]
    names = sorted({label for row in rows for label in row["label"]} | set(predictor.topic_names))
    index = {name: i for i, name in enumerate(names)}
    target = torch.zeros(len(rows), len(names), dtype=torch.long)
    decided = torch.zeros_like(target)
    predictions = predictor.predict([row["text"] for row in rows], top_k=1, refuse_unknown=False)
    for i, (row, prediction) in enumerate(zip(rows, predictions, strict=True)):
        target[i, [index[label] for label in row["label"]]] = 1
        chosen = prediction.topics[:1] if top_label_only else prediction.labels
        decided[i, [index[name] for name, _ in chosen]] = 1
    labels = len(names)
    return {
        "test/acc": float(MultilabelExactMatch(labels)(decided, target)),
        "test/f1_micro": float(MultilabelF1Score(labels, average="micro")(decided, target)),
        "test/f1_macro": float(MultilabelF1Score(labels, average="macro")(decided, target)),
    }


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/own-data"))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    args = parser.parse_args(argv)
    texts = args.out / "reuters-text"
    if not (texts / "multilabel" / "test.jsonl").exists():
        write_reuters_text(texts, formats=("csv",))
    text_data = ["--data", "TextFilesDataModule", "--data.train_file", str(texts / "train.csv"),
                 "--data.test_file", str(texts / "test.csv")]  # fmt: skip
    lines = ["# Own-data measurements", "", f"Seeds {args.seeds}; medians in bold, each seed's value after.", ""]

    lines += ["## The same wires: npz path against text-files path", ""]
    lines += [
        "| recipe | data path | test accuracy | macro-F1 | vocabulary | wall s (median) |",
        "| --- | --- | ---: | ---: | --- | ---: |",
    ]
    text_runs: dict[str, list[Path]] = {}
    for recipe in ("gru", "fast"):
        for path, extra in (("npz", []), ("text (CSV)", text_data)):
            dirs = [
                fit(args.out / recipe / path.split()[0] / str(seed),
                    ["--config", str(ROOT / "configs" / f"{recipe}.yaml"), *extra, "--seed_everything", str(seed)])
                for seed in args.seeds
            ]  # fmt: skip
            if path != "npz":
                text_runs[recipe] = dirs
            runs = [scores(d) for d in dirs]
            vocabulary = "Keras word index" if path == "npz" else "fitted on the 7,186 training rows"
            lines.append(
                f"| {recipe}.yaml | {path} | {spread(runs, 'test/acc')} | {spread(runs, 'test/f1_macro')} | "
                f"{vocabulary} | {median(runs, 'seconds'):.0f} |"
            )

    lines += ["", "## Class weights (configs/gru.yaml, npz)", ""]
    lines += [
        "| class_weights | test accuracy | macro-F1 | topics never predicted right (of 46) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for setting in ("none", "balanced", "sqrt_balanced"):
        name = "npz" if setting == "none" else setting
        dirs = [
            fit(args.out / "gru" / name / str(seed),
                ["--config", str(ROOT / "configs" / "gru.yaml"), "--model.class_weights", setting,
                 "--seed_everything", str(seed)])
            for seed in args.seeds
        ]  # fmt: skip
        runs = [scores(d) for d in dirs]
        lines.append(
            f"| {setting} | {spread(runs, 'test/acc')} | {spread(runs, 'test/f1_macro')} | "
            f"{median(runs, 'never_right'):.0f} |"
        )

    lines += ["", "## Multi-label: joined wires (configs/fast.yaml + configs/data/reuters-multilabel.yaml)", ""]
    lines += ["| model | decision | subset accuracy | micro-F1 | macro-F1 |", "| --- | --- | ---: | ---: | ---: |"]
    multi_data = ["--data.train_file", str(texts / "multilabel" / "train.jsonl"),
                  "--data.test_file", str(texts / "multilabel" / "test.jsonl")]  # fmt: skip
    test = texts / "multilabel" / "test.jsonl"
    recipe = ["--config", str(ROOT / "configs" / "fast.yaml"), "--config",
              str(ROOT / "configs" / "data" / "reuters-multilabel.yaml"), *multi_data]  # fmt: skip
    runs_by_loss = {
        loss: [
            fit(
                args.out / "multilabel" / loss / str(seed),
                [*recipe, "--model.multi_label_loss", loss, "--seed_everything", str(seed)],
            )
            for seed in args.seeds
        ]
        for loss in ("bce", "softmax")
    }
    measured = {
        loss: [json.loads((d / "test_metrics.json").read_text()) for d in dirs] for loss, dirs in runs_by_loss.items()
    }
    top_one = [
        single_label_scores(TopicPredictor.from_checkpoint(best_checkpoint(d)), test, True)
        for d in runs_by_loss["softmax"]
    ]
    single = [
        single_label_scores(TopicPredictor.from_checkpoint(best_checkpoint(d)), test, True) for d in text_runs["fast"]
    ]
    for model, decision, runs in (
        ("multi-label, sigmoid outputs + BCE", "every label above the validation threshold", measured["bce"]),
        ("multi-label, softmax + shared targets (the overlay's)", "every label above the validation threshold",
         measured["softmax"]),
        ("the same softmax model", "its top label only", top_one),
        ("single-label fast.yaml (text path, single wires)", "its top label", single),
    ):  # fmt: skip
        lines.append(
            f"| {model} | {decision} | {spread(runs, 'test/acc')} | {spread(runs, 'test/f1_micro')} | "
            f"{spread(runs, 'test/f1_macro')} |"
        )
    lines += subword_section(args, texts, text_data)
    report = args.out / "own-data.md"
    report.write_text("\n".join(lines) + "\n")
    print(report.read_text())
    return report


def misspelt(texts: list[str], rate: float = 0.1, seed: int = 0) -> list[str]:
    """Each word of 4+ letters has two inner letters swapped with probability ``rate`` (a typing slip)."""
    rng = random.Random(seed)
    out = []
    for text in texts:
        words = text.split()
        for i, word in enumerate(words):
            if len(word) >= 4 and word.isalpha() and rng.random() < rate:
                j = rng.randrange(1, len(word) - 2)
                words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
        out.append(" ".join(words))
    return out


def top_one_accuracy(checkpoint: Path, texts: list[str], labels: list[str]) -> float:
    predictions = TopicPredictor.from_checkpoint(checkpoint).predict(texts, top_k=1, refuse_unknown=False)
    return sum(p.topics[0][0] == label for p, label in zip(predictions, labels, strict=True)) / len(labels)


def subword_section(args: argparse.Namespace, texts: Path, text_data: list[str]) -> list[str]:
    """Word against BPE and WordPiece vocabularies of the same size (gru.yaml, text path), on the test wires and on
    the test wires with typing slips."""
    with (texts / "test.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    clean, labels = [row["text"] for row in rows], [row["label"] for row in rows]
    noisy = misspelt(clean)
    lines = ["", "## Word or subword vocabulary (configs/gru.yaml, text path, 10,000 ids each)", ""]
    lines += [
        "| tokenizer | test accuracy | macro-F1 | accuracy with typing slips (10 % of words) | wall s (median) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for kind in ("words", "bpe", "wordpiece"):
        dirs = [
            args.out / "gru" / "text" / str(seed) / "lightning_logs" / "gru" / "version_0"
            if kind == "words"
            else fit(args.out / "gru" / kind / str(seed),
                     ["--config", str(ROOT / "configs" / "gru.yaml"), *text_data, "--data.tokenizer", kind,
                      "--seed_everything", str(seed)])
            for seed in args.seeds
        ]  # fmt: skip
        runs = [scores(d) for d in dirs]
        for run, d in zip(runs, dirs, strict=True):
            run["noisy"] = top_one_accuracy(best_checkpoint(d), noisy, labels)
        lines.append(
            f"| {kind} | {spread(runs, 'test/acc')} | {spread(runs, 'test/f1_macro')} | {spread(runs, 'noisy')} | "
            f"{median(runs, 'seconds'):.0f} |"
        )
    return lines


def best_checkpoint(run_dir: Path) -> Path:
    return next((run_dir / "checkpoints").glob("best-*.ckpt"))


if __name__ == "__main__":
    main()
