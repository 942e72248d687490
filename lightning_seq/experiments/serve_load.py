"""The serving load test (docs/serve.md): at least 2,000 requests at concurrency 32, each of 1-16 Reuters test wires,
against ``lightning-seq serve`` (FastAPI + uvicorn) and the same endpoint on LitServe, with and without dynamic
batching; and the ceiling, ``scripts/predict.py``'s in-process throughput on the same texts. One server at a time,
on 127.0.0.1 only, each stopped with SIGTERM after its run.

    python -m lightning_seq.experiments.serve_load --ckpt CKPT --out runs/serve-load
    python -m lightning_seq.experiments.serve_load --ckpt CKPT --out runs/serve-threads \
        --variants fastapi-unbatched fastapi-unbatched-2-threads

Throughput counts texts classified per second of the load's wall time; latency is per request, as the client sees
it. An error is any answer other than 200 with one prediction per text, or a failed connection.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np
import torch

from lightning_seq.data.reuters_text import reuters_wires
from lightning_seq.inference.predictor import TopicPredictor

VARIANTS = {  # name -> (library, batching, command options)
    "fastapi-batched": ("FastAPI + uvicorn", True, []),
    "fastapi-unbatched": ("FastAPI + uvicorn", False, ["--max_batch_size", "1"]),
    "fastapi-2-workers": ("FastAPI + uvicorn, 2 workers", True, ["--workers", "2"]),
    "fastapi-batched-2-threads": ("FastAPI + uvicorn, 2 torch threads", True, ["--threads", "2"]),
    "fastapi-unbatched-2-threads": (
        "FastAPI + uvicorn, 2 torch threads",
        False,
        ["--max_batch_size", "1", "--threads", "2"],
    ),
    "litserve-batched": ("LitServe", True, ["--max_batch_size", "16", "--threads", "1"]),
    "litserve-unbatched": ("LitServe", False, ["--max_batch_size", "1", "--threads", "1"]),
    "litserve-batched-2-threads": ("LitServe, 2 torch threads", True, ["--max_batch_size", "16", "--threads", "2"]),
}


MAIN_VARIANTS = [  # docs/serve.md's main table; the 2-thread ones are its thread study
    "fastapi-batched", "fastapi-unbatched", "fastapi-2-workers", "litserve-batched", "litserve-unbatched",
    "litserve-batched-2-threads",
]  # fmt: skip


@dataclass
class LoadResult:
    variant: str
    library: str
    batching: bool
    requests: int
    texts: int
    errors: int
    seconds: float
    texts_per_s: float
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    sigterm: str


def request_plan(texts: list[str], requests: int, low: int, high: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [[texts[i] for i in rng.choice(len(texts), rng.integers(low, high + 1))] for _ in range(requests)]


def in_process_texts_per_s(predictor: TopicPredictor, plan: list[list[str]], repeats: int = 3) -> float:
    """``predict.py --input``'s way: chunks of 4,096 rows, forward passes of 256 texts; the best of ``repeats``."""
    flat = [text for request in plan for text in request]
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for start in range(0, len(flat), 4096):
            predictor.predict(flat[start : start + 4096], top_k=3, batch_size=256)
        rates.append(len(flat) / (time.perf_counter() - started))
    return max(rates)


async def run_load(url: str, plan: list[list[str]], concurrency: int) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    queue = iter(plan)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:

        async def user() -> None:
            nonlocal errors
            for texts in queue:
                started = time.perf_counter()
                try:
                    response = await client.post("/predict", json={"texts": texts, "top_k": 3})
                    ok = response.status_code == 200 and len(response.json()["predictions"]) == len(texts)
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(user() for _ in range(concurrency)))
        return latencies, errors, time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(variant: str, checkpoint: str, port: int, log: Path) -> subprocess.Popen:
    library, _, options = VARIANTS[variant]
    if library == "LitServe":
        command = [sys.executable, "-m", "lightning_seq.experiments.litserve_server", "--ckpt", checkpoint]
    else:
        command = [sys.executable, "-m", "lightning_seq", "serve", "--ckpt", checkpoint, "--log_level", "warning"]
    process = subprocess.Popen(
        [*command, "--port", str(port), *options], stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: whatever it leaves running can be ended with it
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{variant} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"{variant} did not answer /health in 180 s")


def measure(variant: str, checkpoint: str, plan: list[list[str]], concurrency: int, out: Path) -> LoadResult:
    port = free_port()
    process = start_server(variant, checkpoint, port, out / f"{variant}.log")
    try:
        url = f"http://127.0.0.1:{port}"
        asyncio.run(run_load(url, plan[:64], concurrency))  # warm-up: connections, first forward passes
        latencies, errors, seconds = asyncio.run(run_load(url, plan, concurrency))
    finally:
        stopped = stop(process)
    library, batching, _ = VARIANTS[variant]
    texts = sum(map(len, plan))
    p50, p95, p99 = (float(np.percentile(latencies, q) * 1000) for q in (50, 95, 99))
    return LoadResult(
        variant, library, batching, len(plan), texts, errors, seconds, texts / seconds, len(plan) / seconds, p50, p95,
        p99, stopped,
    )  # fmt: skip


def stop(process: subprocess.Popen, grace: float = 30) -> str:
    """SIGTERM, then what happened: the exit status, or that it was still running after ``grace`` seconds (then
    its whole process group is killed, so that no server is left to disturb the next measurement)."""
    process.send_signal(signal.SIGTERM)
    try:
        return f"exit {process.wait(timeout=grace)}"
    except subprocess.TimeoutExpired:
        return f"still running {grace:.0f} s after SIGTERM"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def markdown(results: list[LoadResult], ceiling: float, args: argparse.Namespace) -> str:
    lines = [
        f"{args.requests:,} requests of {args.min_texts}-{args.max_texts} Reuters test wires each, concurrency "
        f"{args.concurrency}, top_k 3; {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}. In-process "
        f"ceiling (`predict.py --input`'s chunks of 4,096, forward passes of 256): **{ceiling:,.0f} texts/s**.",
        "",
        "| server | dynamic batching | texts/s | requests/s | p50 ms | p95 ms | p99 ms | errors | of in-process | "
        "SIGTERM |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.library} | {'on' if r.batching else 'off'} | {r.texts_per_s:,.0f} | {r.requests_per_s:,.1f} | "
            f"{r.p50_ms:,.0f} | {r.p95_ms:,.0f} | {r.p99_ms:,.0f} | {r.errors} | {r.texts_per_s / ceiling:.2f} | "
            f"{r.sigterm} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--out", type=Path, default=Path("runs/serve-load"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--min_texts", type=int, default=1)
    parser.add_argument("--max_texts", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", default=MAIN_VARIANTS, choices=list(VARIANTS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    predictor = TopicPredictor.from_checkpoint(args.ckpt)
    texts = [text for _, text, _ in reuters_wires()["test"]]
    answerable = []
    for text in texts:  # the test split holds a wire with no known word, which the server refuses (422)
        try:
            predictor.encode([text])
            answerable.append(text)
        except ValueError:
            continue
    plan = request_plan(answerable, args.requests, args.min_texts, args.max_texts, args.seed)
    ceiling = in_process_texts_per_s(predictor, plan)
    print(f"in-process: {ceiling:,.0f} texts/s", flush=True)
    del predictor
    results = []
    for variant in args.variants:
        results.append(measure(variant, args.ckpt, plan, args.concurrency, args.out))
        print(json.dumps(asdict(results[-1])), flush=True)
    table = markdown(results, ceiling, args)
    (args.out / "serve_load.md").write_text(table)
    (args.out / "serve_load.json").write_text(
        json.dumps({"in_process_texts_per_s": ceiling, "results": [asdict(r) for r in results]}, indent=2) + "\n"
    )
    print(table)


if __name__ == "__main__":
    main()
