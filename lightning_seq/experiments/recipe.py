"""A recipe's whole command, timed as a user runs it, for several seeds: wall seconds and test accuracy.

    python -m lightning_seq.experiments.recipe --config configs/fast.yaml --seeds 42 43 44

Each seed runs ``python scripts/fit.py --config CONFIG --seed_everything SEED`` as a fresh process (imports,
data, training, the test of the best checkpoint, the report and figures all counted), one after the other in
a scratch directory (``--keep DIR``: in ``DIR/seed-N``, kept for ensembles); a Markdown table and the medians are
printed, with the macro-F1 median. Run nothing else beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def timed(command: list[str], cwd: Path) -> float:
    """Run ``command`` in ``cwd`` (created if needed); its wall seconds. A failure ends the harness with its stderr."""
    cwd.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def run_seed(config: Path, seed: int, extra: list[str], keep: Path | None = None) -> dict:
    with contextlib.ExitStack() as stack:
        work = keep / f"seed-{seed}" if keep else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, str(REPO / "scripts" / "fit.py"), "--config", str(config)]
        command += ["--seed_everything", str(seed), "--trainer.enable_progress_bar", "false", *extra]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=work, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"seed {seed} failed:\n{done.stderr[-3000:]}")
        summary_file = next(work.rglob("run_summary.json"))
        summary = json.loads(summary_file.read_text())
    return {
        "seed": seed,
        "wall_s": round(wall, 1),
        "test_acc": summary["test"]["test/acc"],
        "test_f1_macro": summary["test"]["test/f1_macro"],
        "best_val_acc": summary["best_val_acc"],
        "epochs": summary["epochs"],
        "seconds_per_epoch": summary["seconds_per_epoch"],
        "run": str(summary_file.parent) if keep else None,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--keep", type=Path, help="keep each seed's run in KEEP/seed-N (default: a scratch dir)")
    args, extra = parser.parse_known_args(argv)
    keep = args.keep.resolve() if args.keep else None
    results = [run_seed(args.config.resolve(), seed, extra, keep) for seed in args.seeds]
    print("| seed | wall s | test acc | test macro-F1 | best val acc (or null) | epochs | s/epoch |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in results:
        val = f"{row['best_val_acc']:.4f}" if row["best_val_acc"] is not None else "-"
        print(
            f"| {row['seed']} | {row['wall_s']:.1f} | {row['test_acc']:.4f} | {row['test_f1_macro']:.4f} | {val} "
            f"| {row['epochs']} | {row['seconds_per_epoch']:.1f} |"
        )
    wall = statistics.median(row["wall_s"] for row in results)
    acc = statistics.median(row["test_acc"] for row in results)
    f1 = statistics.median(row["test_f1_macro"] for row in results)
    print(f"median of {len(results)} seeds: wall {wall:.1f} s, test acc {acc:.4f}, test macro-F1 {f1:.4f}")
    return results


if __name__ == "__main__":
    main()
