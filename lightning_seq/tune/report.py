"""What a study writes: the trials table (Markdown, CSV), the best config(s) as runnable YAML, and figures."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: figures are files

import matplotlib.pyplot as plt
import numpy as np
import optuna
import yaml
from optuna.exceptions import ExperimentalWarning
from optuna.trial import FrozenTrial, TrialState
from optuna.visualization import matplotlib as optuna_plots

# Optuna's notices on its experimental features ("X is experimental (supported from v3.2.0)...", "Argument ``x`` is an
# experimental feature..."): the interfaces used here are pinned by the tests, not the user's to act on.
EXPERIMENTAL = r".*(is experimental \(supported from v|is an experimental feature).*"


def trial_row(trial: FrozenTrial) -> dict[str, Any]:
    """One trial as a table row: its number, state, settings, scores, epochs, seconds and failure.

    Not ``Study.trials_dataframe()``: that needs pandas (no dependency here otherwise), and its ``params_*`` /
    ``user_attrs_*`` columns would still need renaming, the baseline marking and the reason of an interrupted trial.
    """
    values = trial.values or [None]
    per_epoch = trial.intermediate_values
    failure = trial.user_attrs.get("failure", "")
    if trial.state == TrialState.FAIL and not failure:
        failure = "interrupted: its process stopped (the study runs its settings again)"
    return {
        "trial": f"{trial.number} (baseline)" if trial.user_attrs.get("baseline") else trial.number,
        "state": trial.state.name.lower(),
        **trial.params,
        "val_acc": values[0],
        # the last epoch's: a recipe that keeps its final weights (configs/best.yaml) is judged by this one
        "last_val_acc": per_epoch[max(per_epoch)] if per_epoch else None,
        "epochs": trial.user_attrs.get("epochs"),
        "seconds": trial.user_attrs.get("seconds"),
        "failure": failure,
        "worker": trial.user_attrs.get("worker"),
    }


def write_table(trials: list[FrozenTrial], directory: Path, name: str = "trials") -> list[Path]:
    """``trials.csv`` and ``trials.md``: every trial, best validation accuracy first."""
    ranked = sorted(trials, key=lambda trial: (not trial.values, -(trial.values or [0.0])[0], trial.number))
    rows = [trial_row(trial) for trial in ranked]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    csv_path, md_path = directory / f"{name}.csv", directory / f"{name}.md"
    with csv_path.open("w", newline="") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(column)) for column in columns) + " |" for row in rows]
    md_path.write_text("\n".join(lines) + "\n")
    return [csv_path, md_path]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:.4g}"
    return str(value).replace("|", "\\|")


def runnable_config(trial: FrozenTrial, study_name: str, note: str) -> str:
    """The trial's full fit config (its own ``config.yaml``), made to run as a new fit under ``lightning_logs/``."""
    log_dir = trial.user_attrs.get("log_dir")
    if not log_dir or not (Path(log_dir) / "config.yaml").is_file():
        raise FileNotFoundError(f"trial {trial.number} has no config.yaml (log_dir {log_dir})")
    config = yaml.safe_load((Path(log_dir) / "config.yaml").read_text())
    config["test_after_fit"] = True
    config["ckpt_path"] = None
    config["trainer"]["enable_progress_bar"] = None
    logger = config["trainer"].get("logger")
    if isinstance(logger, dict) and "init_args" in logger:
        logger["init_args"].update(save_dir="lightning_logs", name=study_name, version=None)
    return f"# {note}\n" + yaml.safe_dump(config, sort_keys=False)


def write_study_outputs(study: optuna.Study, directory: Path, name: str, objectives: str) -> list[Path]:
    """Everything a finished (or stopped) study leaves: tables, best config(s), figures."""
    trials = study.get_trials(deepcopy=False)
    written = write_table(trials, directory)
    complete = [trial for trial in trials if trial.state == TrialState.COMPLETE]
    if not complete:
        print(f"[tune] no complete trial yet in {name}: no best config or figures")
        return written
    if len(study.directions) == 1:
        best = study.best_trial
        note = f"best trial {best.number} of study {name}: val acc {best.value:.4f} (scripts/tune.py)"
        path = directory / "best.yaml"
        path.write_text(runnable_config(best, name, note))
        written.append(path)
        figures = {
            "history": lambda: optuna_plots.plot_optimization_history(study),
            "importances": lambda: optuna_plots.plot_param_importances(study),
            "parallel_coordinate": lambda: optuna_plots.plot_parallel_coordinate(study),
            "slice": lambda: optuna_plots.plot_slice(study),
        }
    else:
        front = sorted(study.best_trials, key=lambda trial: trial.values[1])
        written += write_table(front, directory, "pareto")
        for trial in front:
            note = (
                f"Pareto trial {trial.number} of study {name}: val acc {trial.values[0]:.4f}, "
                f"{trial.values[1]:.0f} s of fit (scripts/tune.py --objectives accuracy+seconds)"
            )
            path = directory / f"pareto_trial_{trial.number:03d}.yaml"
            path.write_text(runnable_config(trial, name, note))
            written.append(path)
        targets = ["val acc", "fit seconds"]
        figures = {
            "pareto_front": lambda: optuna_plots.plot_pareto_front(study, target_names=targets),
            "history": lambda: optuna_plots.plot_optimization_history(
                study, target=lambda t: t.values[0], target_name="val acc"
            ),
        }
    if len(complete) < 2:  # one point draws no history, slice or importance (Optuna and matplotlib would warn)
        print(f"[tune] {name} has one complete trial: figures come with the second")
        return written
    for figure_name, draw in figures.items():
        path = directory / f"{figure_name}.png"
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", EXPERIMENTAL, ExperimentalWarning)  # Optuna's matplotlib plots
                axes = draw()
        except (ValueError, RuntimeError) as error:  # e.g. importances need two complete trials
            print(f"[tune] {path.name} not drawn: {error}")
            continue
        figure = np.atleast_1d(axes).flat[0].figure
        figure.set_size_inches(max(figure.get_size_inches()[0], 8), max(figure.get_size_inches()[1], 5))
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written
