"""Training throughput: the package's Lightning ``fit`` against a minimal plain-PyTorch loop.

Both runners train the same model from the same initial weights on the same batches (same seed),
so the ratio of their speeds is the package's overhead, and their final losses must agree. Warm-up
batches are excluded; samples/s and real (non-padding) tokens/s are measured over the rest of an
epoch, the fastest of ``--repeats`` counterbalanced runs. Run it through ``scripts/benchmark.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader

from lightning_seq.data.batching import Batch
from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.training.module import SequenceClassifier

AUTOCAST = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


@dataclass
class Measurement:
    runner: str
    cell: str
    bidirectional: bool
    batching: str
    samples_per_s: float
    tokens_per_s: float
    train_epoch_s: float  # steady-state seconds for one pass over the training split
    final_loss: float
    samples_per_s_runs: list[float]  # every repeat, in order; samples_per_s is the fastest of them


class _Clock:
    """Counts samples and real tokens between the end of warm-up and the last batch."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.device = warmup, device
        self.samples = self.tokens = 0
        self.started = self.stopped = 0.0

    def before(self, index: int, batch: Batch) -> None:
        if index == self.warmup:
            self.started = self._now()
        if index >= self.warmup:
            self.samples += len(batch.labels)
            self.tokens += int(batch.lengths.sum())

    def after(self) -> None:
        self.stopped = self._now()

    def rates(self) -> tuple[float, float]:
        seconds = self.stopped - self.started
        if self.samples == 0 or seconds <= 0:
            raise RuntimeError(f"no batches after the {self.warmup} warm-up batches; lower --warmup")
        return self.samples / seconds, self.tokens / seconds

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()


class _ClockCallback(L.Callback):
    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.last_loss = float("nan")

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Batch, index: int) -> None:
        self.clock.before(index, batch)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, index) -> None:
        self.last_loss = float(outputs["loss"])
        self.clock.after()


def _limited(loader: DataLoader, max_batches: int | None) -> Iterator[Batch]:
    for index, batch in enumerate(loader):
        if max_batches is not None and index >= max_batches:
            return
        yield batch


def run_lightning(model: SequenceClassifier, data: ReutersDataModule, args: argparse.Namespace) -> tuple:
    clock = _Clock(args.warmup, _device(args.accelerator))
    callback = _ClockCallback(clock)
    trainer = L.Trainer(
        accelerator=args.accelerator, devices=1, precision=args.precision, max_epochs=1,
        limit_train_batches=args.max_batches or 1.0, limit_val_batches=0, num_sanity_val_steps=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[callback],
    )  # fmt: skip
    trainer.fit(model, datamodule=data)
    return (*clock.rates(), callback.last_loss)


def run_plain(model: SequenceClassifier, data: ReutersDataModule, args: argparse.Namespace) -> tuple:
    """The loop a careful PyTorch user writes by hand, on the same network, optimizer and batches."""
    device = _device(args.accelerator)
    net = model.net.to(device).train()
    optimizer = model.configure_optimizers()
    dtype = AUTOCAST.get(args.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)
    clock, loss = _Clock(args.warmup, device), torch.zeros(())
    for index, batch in enumerate(_limited(data.train_dataloader(), args.max_batches)):
        batch = Batch(*(t.to(device, non_blocking=True) for t in batch))
        clock.before(index, batch)
        autocast = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with autocast:
            loss = F.cross_entropy(net(batch.tokens, batch.lengths), batch.labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        clock.after()
    return (*clock.rates(), float(loss.detach()))


def warm_up(data: ReutersDataModule, args: argparse.Namespace) -> None:
    """One untimed run first: a fresh process runs its first batches slower (allocator, kernel caches, clocks)."""
    torch.manual_seed(args.seed)
    model = SequenceClassifier(data.vocab_size, data.num_classes, hidden_size=args.hidden_size)
    run_plain(model, data, argparse.Namespace(**{**vars(args), "max_batches": 2 * args.warmup + 10}))


def measure(args: argparse.Namespace) -> list[Measurement]:
    datasets = {batching: _datamodule(batching, args) for batching in args.batching}
    warm_up(next(iter(datasets.values())), args)
    results = []
    for cell in args.cells:
        for bidirectional in args.directions:
            results += measure_model(datasets, cell, bidirectional, args)
    return results


def measure_model(
    datasets: dict[str, ReutersDataModule], cell: str, bidirectional: bool, args: argparse.Namespace
) -> list[Measurement]:
    """Every (batching, runner) pair ``args.repeats`` times, in an order reversed on alternate repeats; best run.

    Load on a shared machine drifts over minutes; measuring the pairs of a ratio side by side, and
    counterbalancing their order, keeps that drift out of the ratios.
    """
    pairs = [(batching, runner) for batching in datasets for runner in args.runners]
    runs: dict[tuple[str, str], list[tuple]] = {pair: [] for pair in pairs}
    for repeat in range(args.repeats):
        for batching, runner in pairs if repeat % 2 == 0 else reversed(pairs):
            data = datasets[batching]
            torch.manual_seed(args.seed)  # same weights and batch order for both runners
            model = SequenceClassifier(
                data.vocab_size, data.num_classes, cell=cell, hidden_size=args.hidden_size,
                bidirectional=bidirectional, variable_length=args.variable_length,
                optimizer=lambda params: torch.optim.Adam(params, lr=args.lr),
            )  # fmt: skip
            run = run_lightning if runner == "lightning" else run_plain
            runs[batching, runner].append(run(model, data, args))
    measurements = []
    for (batching, runner), repeats in runs.items():
        # The fastest run: on a shared machine other load only ever slows a run down, so the best of
        # several is the least disturbed estimate (timeit's advice); every run is kept in the JSON.
        samples, tokens, loss = max(repeats)
        train_items = len(datasets[batching].datasets["train"])
        every = [run[0] for run in repeats]
        row = Measurement(runner, cell, bidirectional, batching, samples, tokens, train_items / samples, loss, every)
        print(_row_line(row), flush=True)
        measurements.append(row)
    return measurements


def _datamodule(batching: str, args: argparse.Namespace) -> ReutersDataModule:
    data = ReutersDataModule(
        num_words=args.num_words,
        batch_size=args.batch_size,
        bucketing=batching == "bucketed",
        pin_memory=_device(args.accelerator).type == "cuda",  # the same loader for both runners
    )
    data.prepare_data()
    data.setup("fit")
    return data


def table(results: list[Measurement]) -> str:
    """Markdown: one row per model and batching, with the Lightning/plain and bucketed/padded ratios."""
    by_key = {(m.cell, m.bidirectional, m.batching, m.runner): m for m in results}
    order = {"padded-200": 0, "bucketed": 1}
    by_key = dict(sorted(by_key.items(), key=lambda item: (order[item[0][2]], item[0][:2])))
    lines = [
        "| cell | bi | batching | plain samples/s | lightning samples/s | lightning / plain "
        "| real tokens/s | train s/epoch | bucketed / padded |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (cell, bi, batching, runner), m in by_key.items():
        if runner != "lightning":
            continue
        plain = by_key.get((cell, bi, batching, "plain"))
        padded = by_key.get((cell, bi, "padded-200", "lightning"))
        lines.append(
            f"| {cell} | {'yes' if bi else 'no'} | {batching} | {_num(plain.samples_per_s if plain else None)} "
            f"| {m.samples_per_s:,.0f} | {_ratio(m, plain)} | {m.tokens_per_s:,.0f} | {m.train_epoch_s:.2f} "
            f"| {_ratio(m, padded) if batching == 'bucketed' else ''} |"
        )
    return "\n".join(lines)


def _ratio(m: Measurement, base: Measurement | None) -> str:
    return f"{m.samples_per_s / base.samples_per_s:.2f}x" if base else ""


def _num(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None else ""


def _row_line(m: Measurement) -> str:
    direction = "bi" if m.bidirectional else "uni"
    return (
        f"{m.runner:9s} {m.cell:4s} {direction:3s} {m.batching:10s} {m.samples_per_s:8.0f} samples/s "
        f"{m.tokens_per_s:9.0f} tokens/s  loss {m.final_loss:.4f}"
    )


def _device(accelerator: str) -> torch.device:
    return torch.device("cuda" if accelerator in ("gpu", "cuda") else "cpu")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"], choices=["rnn", "lstm", "gru"])
    parser.add_argument("--directions", nargs="+", default=["uni", "bi"], choices=["uni", "bi"])
    parser.add_argument("--batching", nargs="+", default=["padded-200", "bucketed"], choices=["padded-200", "bucketed"])
    parser.add_argument("--runners", nargs="+", default=["plain", "lightning"], choices=["plain", "lightning"])
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu", "cuda"])
    parser.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed", "16-mixed"])
    parser.add_argument("--variable_length", default="auto", choices=["auto", "pack", "mask"])
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--hidden_size", type=int, default=64)
    parser.add_argument("--num_words", type=int, default=10000)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--warmup", type=int, default=5, help="batches excluded from the timing")
    parser.add_argument("--max_batches", type=int, default=None, help="stop the epoch early (default: whole epoch)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per runner and batching; the fastest is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=Path("benchmark.json"), help="where the measurements go")
    args = parser.parse_args(argv)
    args.directions = [d == "bi" for d in args.directions]
    return args


def main(argv: list[str] | None = None) -> list[Measurement]:
    args = parse_args(argv)
    if _device(args.accelerator).type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for fp32 runs, as GPU users run them
    results = measure(args)
    print()
    print(table(results))
    settings = {key: str(value) for key, value in vars(args).items()}
    payload = {"settings": settings, "torch": torch.__version__, "results": [asdict(m) for m in results]}
    args.json.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nWritten to {args.json}")
    return results
