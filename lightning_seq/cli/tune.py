"""``scripts/tune.py`` / ``lightning-seq tune``: an Optuna study whose every trial is a real fit.

    python scripts/tune.py --config configs/gru.yaml --space SPACE.yaml --trials 30
    python scripts/tune.py --config configs/gru.yaml --space configs/search/fast.yaml --trials 30 \
        --objectives accuracy+seconds                          # a Pareto front: accuracy against seconds
    python scripts/tune.py ... --trainer.max_epochs 8          # any other flag is a fit override for every trial

``--config`` and every argument that is not one of tune's own options are the fit's, exactly as
``scripts/fit.py`` takes them (LightningCLI's parser checks them before any trial runs); ``--print_config``
prints the fit configuration every trial starts from.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
import yaml
from jsonargparse import ArgumentParser, Namespace
from jsonargparse.typing import PositiveFloat, PositiveInt

from lightning_seq.cli.lightning_cli import resolved_config
from lightning_seq.cli.parsers import parse
from lightning_seq.errors import BadValue, report_user_errors
from lightning_seq.tune.tuner import OBJECTIVES, StudyStopped, Tuner

FIT_ARGUMENTS = "--config FILE (repeatable) and any fit option (--trainer.max_epochs 8, --cell lstm, ...)"


# Tune's own options; every other argument is the fit's.
OPTIONS: dict[str, dict] = {
    "--space": {"type": Path, "required": True, "help": "search space YAML (configs/search/*.yaml)"},
    "--trials": {"type": PositiveInt, "required": True, "help": "finished (complete or pruned) trials to reach"},
    "--study": {"type": str | None, "help": "study name (default: <config stem>-<space stem>)"},
    "--storage": {"type": str | None, "help": "Optuna storage URL (default: sqlite:///<out>/<study>/study.db)"},
    "--out": {"type": Path, "default": Path("tune"), "help": "where studies are written"},
    "--timeout": {"type": PositiveFloat | None, "help": "stop starting new trials after this many seconds"},
    "--objectives": {"type": Literal[tuple(OBJECTIVES)], "default": "accuracy", "help": "what the study optimizes"},
    "--pruner": {"type": Literal["median", "hyperband", "none"], "default": "median", "help": "stops poor trials"},
    "--workers": {"type": PositiveInt, "default": 1, "help": "processes on this machine sharing the study"},
    "--threads": {"type": PositiveInt | None, "help": "torch threads per worker (default: cores / workers)"},
    "--seed": {"type": int, "default": 0, "help": "sampler seed"},
    "--baseline": {
        "action": "store_true",
        "help": "run the base config's own values as the study's first trial, to measure the search against it",
    },
    "--heartbeat": {"type": PositiveFloat, "default": 30.0, "help": "seconds between a running trial's heartbeats"},
}


def tune_parser() -> ArgumentParser:
    """Tune's own options (jsonargparse, typed); the fit's are checked by the fit parser itself."""
    parser = ArgumentParser(
        prog="scripts/tune.py",
        description="Search fit settings with Optuna: every trial a real fit, scored on validation accuracy.",
        epilog=f"Fit arguments for every trial: {FIT_ARGUMENTS}. --print_config prints the fit configuration.",
        exit_on_error=False,
    )
    for name, settings in OPTIONS.items():
        parser.add_argument(name, **settings)
    return parser


def parse_args(argv: Sequence[str]) -> tuple[Namespace, list[str]]:
    """Tune's options, and the fit arguments in their order (``--config`` files included)."""
    ours, fit = split_arguments(list(argv))
    if "-h" in fit or "--help" in fit:
        tune_parser().print_help()
        raise SystemExit(0)
    if "--print_config" in fit:
        print(yaml.safe_dump(resolved_config([arg for arg in fit if arg != "--print_config"]), sort_keys=False))
        raise SystemExit(0)
    args = parse(tune_parser(), ours)
    args.config = [fit[i + 1] for i, arg in enumerate(fit[:-1]) if arg == "--config"]
    if not args.config:
        raise BadValue("give the fit config every trial starts from: --config configs/gru.yaml (see --help)")
    return args, fit


def split_arguments(argv: list[str]) -> tuple[list[str], list[str]]:
    """``(tune's arguments, the fit's)``, each in the order given."""
    ours: list[str] = []
    fit: list[str] = []
    position = 0
    while position < len(argv):
        name, equals, _ = argv[position].partition("=")
        target = ours if name in OPTIONS else fit
        target.append(argv[position])
        takes_value = OPTIONS.get(name, {}).get("action") != "store_true"
        if target is ours and takes_value and not equals and position + 1 < len(argv):
            position += 1
            ours.append(argv[position])
        position += 1
    return ours, fit


@report_user_errors
def main(argv: Sequence[str] | None = None) -> Path:
    """Run (or continue) the study; returns its directory."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, fit_overrides = parse_args(argv)
    tuner = Tuner(args, fit_overrides)
    if args.workers > 1:
        tuner.run_workers(argv)
    else:
        if args.threads:
            torch.set_num_threads(args.threads)
        try:
            tuner.optimize(worker=int(os.environ.get("LIGHTNING_SEQ_TUNE_WORKER", 0)))
        except StudyStopped as stopped:
            print("[tune] stopped; run the same command to continue the study", file=sys.stderr)
            raise SystemExit(stopped.exit_status) from None
    if os.environ.get("LIGHTNING_SEQ_TUNE_WORKER") is None:  # the parent (or a single process) writes the tables
        for path in tuner.write_outputs():
            print(f"[tune] wrote {path}")
    print(f"[tune] study {tuner.name}: optuna-dashboard {tuner.storage_url}")
    return tuner.directory
