"""CPU speed levers, measured side by side in one process: fp32 against bf16 autocast, LSTM against GRU, a fused
AdamW against the default one, and the cost of the n-gram branch.

Each variant trains ``best.yaml``'s network (BiGRU or BiLSTM, hidden 188, embedding 219, max pooling; or
``fast.yaml``'s, 118 and 80) on the same
real bucketed Reuters training batches (batch 32) for ``--steps`` optimizer steps after ``--warmup`` untimed ones:
forward, backward, gradient clipping and the optimizer step, as a fit runs them. The variants take turns for
``--repeats`` rounds, and each reports its fastest round, so that a slow spell of the machine hits all of them.

    python -m lightning_seq.experiments.cpu_levers --threads 1 2 --sizes best fast --out runs/cpu-levers.json

Prints a Markdown table with the CPU model and its relevant flags (``lscpu``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import platform
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from lightning_seq.data.batching import Batch
from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.nn.classifier import RecurrentClassifier

FLAGS_OF_INTEREST = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "amx_int8")


SIZES = {"best": (188, 219), "fast": (118, 80)}  # (hidden per direction, embedding): configs/best.yaml, fast.yaml


@dataclass(frozen=True)
class Variant:
    size: str  # a key of SIZES
    cell: str
    precision: str  # "fp32" or "bf16"
    fused: bool
    ngram_order: int

    @property
    def name(self) -> str:
        hidden, embedding = SIZES[self.size]
        ngrams = f" + {self.ngram_order}-gram branch" if self.ngram_order else ""
        optimizer = "fused" if self.fused else "default"
        return f"Bi{self.cell.upper()}({hidden}), embedding {embedding}, {self.precision}, {optimizer} AdamW{ngrams}"


@dataclass
class Result:
    variant: str
    threads: int
    tokens_per_s: float
    step_ms: float
    rounds_tokens_per_s: list[float]


def cpu_description() -> tuple[str, list[str]]:
    """The CPU model and which of :data:`FLAGS_OF_INTEREST` it has (``lscpu``; ``platform`` where it is missing)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU", []
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    model = fields.get("Model name", "unknown CPU").strip()
    flags = set(fields.get("Flags", "").split())
    return model, [flag for flag in FLAGS_OF_INTEREST if flag in flags]


def batches(count: int, seed: int) -> tuple[list[Batch], int, int]:
    """``count`` real training batches of ``configs/best.yaml``'s data settings (bucketed, batch 32, maxlen 500),
    the vocabulary size and the number of classes."""
    data = ReutersDataModule(num_words=None, maxlen=500, batch_size=32, bucketing=True, seed=113)
    data.prepare_data()
    data.setup("fit")
    torch.manual_seed(seed)
    return list(itertools.islice(iter(data.train_dataloader()), count)), data.vocab_size, data.num_classes


def measure(variant: Variant, batches: list[Batch], warmup: int, vocab_size: int, classes: int) -> tuple[float, float]:
    """``(real tokens per second, ms per step)`` over ``batches[warmup:]``."""
    torch.manual_seed(0)
    hidden, embedding = SIZES[variant.size]
    net = RecurrentClassifier(
        vocab_size, classes, variant.cell, embedding_dim=embedding, hidden_size=hidden, bidirectional=True,
        pooling="max", dropout=0.6, embedding_dropout=0.3, ngram_order=variant.ngram_order,
    ).train()  # fmt: skip
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.04, fused=variant.fused)
    autocast = (
        functools.partial(torch.autocast, "cpu", dtype=torch.bfloat16)
        if variant.precision == "bf16"
        else contextlib.nullcontext
    )
    tokens, started = 0, 0.0
    for index, batch in enumerate(batches):
        if index == warmup:
            started = time.perf_counter()
        with autocast():
            loss = F.cross_entropy(net(batch.tokens, batch.lengths), batch.labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
        if index >= warmup:
            tokens += int(batch.lengths.sum())
    seconds = time.perf_counter() - started
    return tokens / seconds, 1000 * seconds / (len(batches) - warmup)


def main(argv: list[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts to measure at")
    parser.add_argument("--sizes", nargs="+", default=["best"], choices=list(SIZES), help="network sizes")
    parser.add_argument("--steps", type=int, default=150, help="timed optimizer steps per variant and round")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; each variant reports its fastest")
    parser.add_argument("--out", type=Path, default=Path("cpu-levers.json"))
    args = parser.parse_args(argv)
    data, vocab_size, classes = batches(args.warmup + args.steps, seed=0)
    variants = [
        Variant(size, cell, precision, fused, ngrams)
        for size in args.sizes
        for cell, precision, fused, ngrams in (
            ("gru", "fp32", False, 0), ("gru", "fp32", True, 0), ("gru", "bf16", True, 0),
            ("lstm", "fp32", True, 0), ("lstm", "bf16", True, 0), ("gru", "fp32", True, 2),
        )
    ]  # fmt: skip
    results = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        rounds: dict[Variant, list[tuple[float, float]]] = {variant: [] for variant in variants}
        for _ in range(args.repeats):
            for variant in variants:
                rounds[variant].append(measure(variant, data, args.warmup, vocab_size, classes))
        for variant, measured in rounds.items():
            best = max(measured)
            results.append(Result(variant.name, threads, best[0], best[1], [rate for rate, _ in measured]))
    model, flags = cpu_description()
    shown = ", ".join(flags) or "none of " + ", ".join(FLAGS_OF_INTEREST)
    print(f"CPU: {model}; flags: {shown}; torch {torch.__version__}")
    print("\n| variant | threads | tokens/s | ms/step | vs first row |\n| --- | ---: | ---: | ---: | ---: |")
    for threads, size in itertools.product(args.threads, args.sizes):
        hidden = f"({SIZES[size][0]})"
        rows = [result for result in results if result.threads == threads and hidden in result.variant]
        for result in rows:
            ratio = result.tokens_per_s / rows[0].tokens_per_s
            print(
                f"| {result.variant} | {threads} | {result.tokens_per_s:,.0f} | {result.step_ms:.1f} | {ratio:.2f}x |"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"cpu": model, "flags": flags, "results": [asdict(r) for r in results]}, indent=2) + "\n"
    )
    return results


if __name__ == "__main__":
    main()
