"""What language-model pretraining gains and costs: a recipe fitted from scratch and from a pretrained encoder.

    python -m lightning_seq.experiments.pretraining --config configs/fast.yaml \
        --pretrain configs/pretrain/fast.yaml --seeds 42 43 44 --out runs/pretraining

It pretrains once (timed), then fits the recipe for every seed in four ways: from scratch, from the encoder, from
the encoder with discriminative learning rates (2.6 per layer group), and with gradual unfreezing besides
(ULMFiT). Those fits see validation only. The way with the best median validation accuracy is then tested, with
the from-scratch fits beside it: the test split is read once, after the choice. Each step is a fresh process,
one after the other; run nothing else beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from lightning_seq.experiments.recipe import REPO, timed

ULMFIT_DECAY = "2.6"


def variants(encoder: Path) -> dict[str, list[str]]:
    start = ["--model.encoder_checkpoint", str(encoder)]
    discriminative = [*start, "--model.layer_lr_decay", ULMFIT_DECAY]
    return {
        "from scratch": [],
        "pretrained encoder": start,
        "+ discriminative rates": discriminative,
        "+ gradual unfreezing": [*discriminative, "--model.unfreeze_every", "1"],
    }


def fit(config: Path, seed: int, extra: list[str], work: Path) -> dict:
    command = [sys.executable, str(REPO / "scripts" / "fit.py"), "--config", str(config), "--seed_everything"]
    command += [str(seed), "--test_after_fit", "false", "--trainer.enable_progress_bar", "false", *extra]
    wall = timed(command, work)
    summary_file = next(work.rglob("run_summary.json"))
    summary = json.loads(summary_file.read_text())
    return {"seed": seed, "wall_s": round(wall, 1), "val_acc": summary["best_val_acc"], "run": summary_file.parent}


def test(run: Path) -> dict:
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    command = [sys.executable, str(REPO / "scripts" / "test.py"), "--ckpt", str(best), "--out", str(run / "test")]
    timed(command, run)
    return json.loads((run / "test" / "test_metrics.json").read_text())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="the classifier's recipe")
    parser.add_argument("--pretrain", type=Path, required=True, help="the language model's config (same encoder)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    out = args.out.resolve()
    pretrain_command = [sys.executable, str(REPO / "scripts" / "pretrain.py"), "--config", str(args.pretrain.resolve())]
    pretrain_s = timed([*pretrain_command, "--trainer.enable_progress_bar", "false"], out / "pretrain")
    encoder = next((out / "pretrain").rglob("encoder.ckpt"))
    print(f"pretraining: {pretrain_s:.0f} s -> {encoder}", flush=True)
    results: dict[str, list[dict]] = {}
    for name, extra in variants(encoder).items():
        folder = name.strip("+ ").replace(" ", "-")
        results[name] = [fit(args.config.resolve(), seed, extra, out / folder / f"seed-{seed}") for seed in args.seeds]
        runs = results[name]
        print(
            f"{name}: val acc {[run['val_acc'] for run in runs]}, wall s {[run['wall_s'] for run in runs]}", flush=True
        )
    medians = {name: statistics.median(run["val_acc"] for run in runs) for name, runs in results.items()}
    chosen = max((name for name in medians if name != "from scratch"), key=medians.__getitem__)
    print(f"chosen on validation: {chosen} (median val acc {medians[chosen]:.4f})", flush=True)
    rows = []
    for name, runs in results.items():
        tested = [test(run["run"]) for run in runs] if name in (chosen, "from scratch") else []
        accuracy = [metrics["test/acc"] for metrics in tested]
        f1 = [metrics["test/f1_macro"] for metrics in tested]
        rows.append(
            {
                "way": name,
                "val_acc": [run["val_acc"] for run in runs],
                "median_val_acc": medians[name],
                "median_wall_s": statistics.median(run["wall_s"] for run in runs),
                "test_acc": accuracy,
                "median_test_acc": statistics.median(accuracy) if accuracy else None,
                "median_test_f1_macro": statistics.median(f1) if f1 else None,
            }
        )
    print("| way | median val acc | median test acc | median test macro-F1 | median fit s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        test_cells = [
            f"{row[key]:.4f}" if row[key] is not None else "not tested"
            for key in ("median_test_acc", "median_test_f1_macro")
        ]
        print(f"| {row['way']} | {row['median_val_acc']:.4f} | {' | '.join(test_cells)} | {row['median_wall_s']:.0f} |")
    report = {"pretrain_s": round(pretrain_s, 1), "chosen": chosen, "ways": rows, "seeds": args.seeds}
    (out / "pretraining.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
