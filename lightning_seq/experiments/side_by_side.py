"""Issue 20's side-by-side table in one run on one machine: the linear models, both recipes, the ensemble of the
best recipe's seeds and the fast recipe distilled from it.

    python -m lightning_seq.experiments.side_by_side --out runs/side-by-side            # about 70 min on 2 cores

Other arguments go to every fit (``--trainer.limit_train_batches 2`` tries the whole run in
minutes); ``--linear svm`` picks the linear models.

Every step is a fresh process, one after the other (run nothing else beside it): ``experiments.linear_baseline``,
``experiments.recipe``'s seeds (each timed as a user runs ``scripts/fit.py``, test included), and ``scripts/test.py``
with the three ``best.yaml`` checkpoints. It writes ``side_by_side.md`` and ``.json``
with the machine's CPU model and flags.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from lightning_seq.experiments.recipe import REPO, run_seed, timed

CONFIGS = REPO / "configs"
SEEDS = (42, 43, 44)
DEFAULT_LINEAR = ["svm", "lr"] + (["fasttext"] if importlib.util.find_spec("fasttext") else [])
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")  # the ones docs/speed.md weighs


def cpu() -> str:
    """``lscpu``'s model name and which of the flags that matter here it has."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    fields = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines)}
    flags = set(fields.get("Flags", "").split())
    present = [flag for flag in CPU_FLAGS if flag in flags] or ["none of " + ", ".join(CPU_FLAGS)]
    return f"{fields.get('Model name', 'unknown CPU')}, {fields.get('CPU(s)', '?')} CPUs; flags: {', '.join(present)}"


def recipe_row(name: str, config: Path, extra: list[str], keep: Path, setup_s: float = 0.0) -> dict:
    runs = [run_seed(config, seed, extra, keep) for seed in SEEDS]
    print(f"{name}: {[run['test_acc'] for run in runs]}", flush=True)
    return {
        "model": name,
        "test_acc": [run["test_acc"] for run in runs],
        "median_test_acc": statistics.median(run["test_acc"] for run in runs),
        "median_test_f1_macro": statistics.median(run["test_f1_macro"] for run in runs),
        "median_wall_s": statistics.median(run["wall_s"] for run in runs) + setup_s,
        "runs": [run["run"] for run in runs],
    }


def linear_rows(out: Path, models: list[str]) -> list[dict]:
    command = [sys.executable, "-m", "lightning_seq.experiments.linear_baseline", "--out", str(out), "--models"]
    timed([*command, *models], REPO)
    rows = json.loads((out / "linear_baseline.json").read_text())
    grouped: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        grouped.setdefault((row["model"], row["fitted_on"]), []).append(row)
    return [
        {
            "model": f"{model}, fitted on {fitted_on}",
            "test_acc": [row["test_acc"] for row in group],
            "median_test_acc": statistics.median(row["test_acc"] for row in group),
            "median_test_f1_macro": statistics.median(row["test_f1_macro"] for row in group),
            "median_wall_s": statistics.median(row["seconds"] for row in group),
        }
        for (model, fitted_on), group in grouped.items()
    ]


def final_checkpoint(run: str) -> str:
    return str(next((Path(run) / "checkpoints").glob("final-*.ckpt")))


def ensemble_row(checkpoints: list[str], out: Path, members_s: float) -> dict:
    command = [sys.executable, str(REPO / "scripts" / "test.py"), "--out", str(out)]
    for checkpoint in checkpoints:
        command += ["--ckpt", checkpoint]
    wall = timed(command, out)
    metrics = json.loads((out / "test_metrics.json").read_text())
    return {
        "model": f"ensemble of the {len(checkpoints)} best.yaml seeds (mean probability)",
        "test_acc": [metrics["test/acc"]],
        "median_test_acc": metrics["test/acc"],
        "median_test_f1_macro": metrics["test/f1_macro"],
        "median_wall_s": members_s + wall,
        "wall_note": f"{len(checkpoints)} x best.yaml + a {wall:.0f} s test",
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--linear", nargs="+", default=DEFAULT_LINEAR, help="the linear models (default: %(default)s)")
    args, fit_args = parser.parse_known_args(argv)
    out = args.out.resolve()
    machine = cpu()
    print(machine, flush=True)
    rows = linear_rows(out / "linear", args.linear)
    fast = CONFIGS / "fast.yaml"
    rows.append(recipe_row("configs/fast.yaml", fast, fit_args, out / "fast"))
    best = recipe_row("configs/best.yaml", CONFIGS / "best.yaml", fit_args, out / "best")
    rows.append(best)
    teachers = [final_checkpoint(run) for run in best["runs"]]
    rows.append(ensemble_row(teachers, out / "ensemble", len(teachers) * best["median_wall_s"]))
    distil = ["--model.teachers", json.dumps(teachers), *fit_args]
    rows.append(recipe_row("configs/fast.yaml distilled from the ensemble", fast, distil, out / "distilled"))
    lines = [
        f"One run, {time.strftime('%Y-%m-%d')}, {machine}; torch {_torch_version()}. Medians of seeds "
        f"{', '.join(map(str, SEEDS))}; choices made on validation; each run read the test split once.",
        "",
        "| model | test acc | test macro-F1 | wall s | test acc by seed |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        seeds = ", ".join(f"{value:.4f}" for value in row["test_acc"])
        wall = f"{row['median_wall_s']:.1f}" + (f" ({row['wall_note']})" if "wall_note" in row else "")
        lines.append(
            f"| {row['model']} | {row['median_test_acc']:.4f} | {row['median_test_f1_macro']:.4f} | {wall} | {seeds} |"
        )
    (out / "side_by_side.md").write_text("\n".join(lines) + "\n")
    (out / "side_by_side.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    print("\n".join(lines))
    return rows


def _torch_version() -> str:
    import torch

    return torch.__version__


if __name__ == "__main__":
    main()
