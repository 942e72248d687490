"""Train a grid of recipes x cells x directions through the real CLI and tabulate and plot the results.

``python scripts/compare.py`` trains every cell, uni- and bidirectional, with the seed's 5-epoch
recipe (``configs/gru.yaml``) and with ``configs/best.yaml``, one run after another, and writes
``results.md``, ``results.csv``, ``results.json`` and ``val_curves.png`` to ``--out``.

Every run holds out ``--val_split`` (20 %) of the training wires so that each one has a validation
curve, including recipes such as ``configs/best.yaml`` whose own final fit uses all of them.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from lightning_seq.cli.lightning_cli import fit_main
from lightning_seq.nn.classifier import CELLS
from lightning_seq.reporting.plots import plt, save_figure
from lightning_seq.training.callbacks import TrainingCurves, read_epochs

DIRECTIONS = ("uni", "bi")
DEFAULT_CONFIGS = ("seed=configs/gru.yaml", "best=configs/best.yaml")  # label=path; a bare path is labelled by its stem
COLUMNS = {
    "recipe": "recipe",
    "model": "model",
    "parameters": "parameters",
    "epochs": "epochs",
    "seconds_per_epoch": "s/epoch",
    "best_val_acc": "best val acc",
    "test_acc": "test acc",
    "test_f1_macro": "test macro-F1",
}


@dataclass(frozen=True)
class RunResult:
    recipe: str
    model: str
    parameters: int
    epochs: int
    seconds_per_epoch: float
    best_val_acc: float
    test_acc: float
    test_f1_macro: float
    val_acc_curve: tuple[float, ...]
    log_dir: str


def run_one(
    recipe: str, config: str, cell: str, direction: str, out: Path, val_split: float = 0.2, extra: Sequence[str] = ()
) -> RunResult:
    """One ``scripts/fit.py`` run of ``config`` with its own log dir, read back from the files the run wrote."""
    model = ("bi" if direction == "bi" else "") + cell
    save_dir = out / "runs"
    fit_main(
        [
            "--config", config,
            "--model.cell", cell,
            "--model.bidirectional", str(direction == "bi").lower(),
            "--trainer.logger.class_path", "lightning.pytorch.loggers.TensorBoardLogger",
            "--trainer.logger.init_args.save_dir", str(save_dir),
            "--trainer.logger.init_args.name", f"{recipe}-{model}",
            "--trainer.logger.init_args.version", "run",
            "--trainer.enable_progress_bar", "false",
            "--data.val_split", str(val_split),
            *extra,
        ]
    )  # fmt: skip
    log_dir = save_dir / f"{recipe}-{model}" / "run"
    summary = json.loads((log_dir / "run_summary.json").read_text())
    curve = read_curve(log_dir, "val/acc")
    return RunResult(
        recipe=recipe,
        model=model,
        parameters=summary["parameters"],
        epochs=summary["epochs"],
        seconds_per_epoch=summary["seconds_per_epoch"],
        best_val_acc=max(curve),  # also for recipes that keep their final weights rather than the best
        test_acc=summary["test"]["test/acc"],
        test_f1_macro=summary["test"]["test/f1_macro"],
        val_acc_curve=curve,
        log_dir=str(log_dir),
    )


def _labelled(config: str) -> tuple[str, str]:
    """``label=path`` or a bare ``path`` (labelled by its stem) -> ``(label, path)``."""
    label, _, path = config.rpartition("=")
    return label or Path(path).stem, path


def read_curve(log_dir: Path, tag: str) -> tuple[float, ...]:
    """A metric's values, one per epoch, from the run's ``epochs.csv`` (written whatever the logger)."""
    curve = tuple(float(row[tag]) for row in read_epochs(log_dir / TrainingCurves.RECORD) if row.get(tag))
    if not curve:
        raise ValueError(f"{log_dir} logged no {tag!r}; was validation skipped?")
    return curve


def write_table(results: Sequence[RunResult], out: Path) -> tuple[Path, Path]:
    """``results.md`` and ``results.csv`` with one row per run, plus ``results.json`` with the curves."""
    rows = [{key: getattr(result, key) for key in COLUMNS} for result in results]
    with (out / "results.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        "| " + " | ".join(COLUMNS.values()) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in list(COLUMNS)[2:]) + " |",
    ]
    for row in rows:
        cells = [
            row["recipe"],
            row["model"],
            f"{row['parameters']:,}",
            str(row["epochs"]),
            f"{row['seconds_per_epoch']:.1f}",
            f"{row['best_val_acc']:.3f}",
            f"{row['test_acc']:.3f}",
            f"{row['test_f1_macro']:.3f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps([asdict(result) for result in results], indent=2) + "\n")
    return out / "results.md", out / "results.csv"


def plot_curves(results: Sequence[RunResult], path: Path) -> Path:
    """Validation accuracy per epoch, one panel per recipe, one line per model."""
    recipes = list(dict.fromkeys(result.recipe for result in results))
    figure, axes = plt.subplots(1, len(recipes), figsize=(6 * len(recipes), 4.5), squeeze=False, sharey=True)
    for axis, recipe in zip(axes[0], recipes, strict=True):
        for result in (r for r in results if r.recipe == recipe):
            epochs = range(1, len(result.val_acc_curve) + 1)
            axis.plot(
                epochs,
                result.val_acc_curve,
                marker="o",
                markersize=3,
                label=f"{result.model} ({result.test_acc:.3f} test)",
            )
        epochs_run = max(len(r.val_acc_curve) for r in results if r.recipe == recipe)
        axis.set(title=f"{recipe} ({epochs_run} epochs)", xlabel="epoch", ylabel="validation accuracy")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return save_figure(figure, path, dpi=120)


def compare(
    configs: Sequence[str],
    cells: Sequence[str],
    directions: Sequence[str],
    out: Path,
    val_split: float = 0.2,
    extra: Sequence[str] = (),
) -> list[RunResult]:
    recipes = [_labelled(config) for config in configs]
    for _, path in recipes:
        if not Path(path).is_file():
            raise FileNotFoundError(f"no config at {path}; pass existing YAML files to --configs")
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for recipe, path in recipes:
        for cell in cells:
            for direction in directions:
                results.append(run_one(recipe, path, cell, direction, out, val_split, extra))
                write_table(results, out)  # a partial table survives an interrupted comparison
    plot_curves(results, out / "val_curves.png")
    return results


def main(argv: Sequence[str] | None = None) -> list[RunResult]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    recipes_help = "recipes to compare: YAML paths, optionally label=path"
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), help=recipes_help)
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    parser.add_argument("--directions", nargs="+", default=list(DIRECTIONS), choices=DIRECTIONS)
    parser.add_argument("--out", type=Path, default=Path("comparison"), help="where tables, plot and runs go")
    parser.add_argument("--val_split", type=float, default=0.2, help="share of training wires held out in every run")
    args, extra = parser.parse_known_args(argv)  # anything else goes to every fit, e.g. --trainer.max_epochs 1
    results = compare(args.configs, args.cells, args.directions, args.out, args.val_split, extra)
    print((args.out / "results.md").read_text())
    print(f"Written to {args.out}: results.md, results.csv, results.json, val_curves.png")
    return results
