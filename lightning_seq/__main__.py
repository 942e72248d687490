"""``lightning-seq SUBCOMMAND ...`` (or ``python -m lightning_seq``): every front door behind one command.

``fit``, ``validate`` and ``test`` are LightningCLI subcommands (:mod:`lightning_seq.cli`); ``predict`` gives
topics for raw text, ``export`` writes ONNX/TorchScript, ``compare`` and ``benchmark`` are the experiments.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from lightning_seq.errors import USAGE_ERROR

# subcommand -> (module whose main() runs it, one line for the listing)
COMMANDS = {
    "fit": ("lightning_seq.cli.lightning_cli", "train, then test the best checkpoint (scripts/fit.py)"),
    "validate": ("lightning_seq.cli.lightning_cli", "validate a checkpoint on the held-out split"),
    "test": ("lightning_seq.cli.lightning_cli", "test a checkpoint; per-topic report and figures (scripts/test.py)"),
    "pretrain": (
        "lightning_seq.cli.pretrain",
        "a language model over the training texts, to start a classifier's encoder",
    ),
    "predict": ("lightning_seq.cli.predict", "topics for raw text (scripts/predict.py)"),
    "export": ("lightning_seq.cli.export", "ONNX or TorchScript for serving (scripts/export.py)"),
    "serve": ("lightning_seq.cli.serve", "an HTTP endpoint with dynamic batching and a page (scripts/serve.py)"),
    "tune": ("lightning_seq.cli.tune", "hyperparameter search with Optuna (scripts/tune.py)"),
    "reuters-text": ("lightning_seq.cli.reuters_text", "the Reuters wires as CSV/JSONL/folder/fastText text files"),
    "compare": ("lightning_seq.experiments.compare", "train every cell; a results table and curves"),
    "benchmark": ("lightning_seq.experiments.benchmark", "training throughput: Lightning vs plain PyTorch"),
}
LIGHTNING_CLI = {"fit", "validate", "test"}


def usage() -> str:
    width = max(map(len, COMMANDS)) + 2
    rows = [f"  {name:<{width}}{what}" for name, (_, what) in COMMANDS.items()]
    return "\n".join(["usage: lightning-seq SUBCOMMAND [ARGS ...]   (SUBCOMMAND --help for its options)", "", *rows])


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: exit status 0 (a returned value would be printed and turned into exit status 1)."""
    run(argv)


def run(argv: Sequence[str] | None = None) -> object:
    """Run one subcommand; returns what its front door returns (metrics, predictions, a path, ...)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        raise SystemExit(0 if args else USAGE_ERROR)
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        sys.stderr.write(f"error: unknown subcommand {name!r}; choose one of {', '.join(COMMANDS)}\n")
        raise SystemExit(USAGE_ERROR)
    module = importlib.import_module(COMMANDS[name][0])
    if name in LIGHTNING_CLI:
        return module.main(rest, command=name)
    return module.main(rest)


if __name__ == "__main__":
    main()
