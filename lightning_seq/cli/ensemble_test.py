"""``lightning-seq test --ckpt A --ckpt B ...``: several checkpoints test as one ensemble, each member beside it.

A single ``--ckpt`` stays LightningCLI's ``test``; repeating it lands here, since a LightningCLI run builds one
model from one checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jsonargparse import ActionConfigFile, ArgumentParser

from lightning_seq.cli.lightning_cli import default_out
from lightning_seq.cli.parsers import parse
from lightning_seq.inference.ensemble_test import evaluate_ensemble


def main(argv: Sequence[str]) -> dict[str, float]:
    """Test the ensemble of the repeated ``--ckpt``; write its reports; returns the ensemble's metrics."""
    parser = ArgumentParser(
        prog="lightning-seq test",
        description="Test an ensemble: each checkpoint, and the mean of their probabilities, on the test split.",
        exit_on_error=False,
    )
    parser.add_argument("--config", action=ActionConfigFile, help="a YAML file of these options")
    parser.add_argument("--ckpt_path", "--ckpt", action="append", required=True, help="a member; repeat it")
    parser.add_argument("--out", type=Path, help="where the reports go (default: <first run>/evaluation/ensemble)")
    parser.add_argument("--data_dir", "--data.data_dir", help="Reuters runs: directory with reuters.npz")
    parser.add_argument("--batch_size", "--data.batch_size", type=int, default=256, help="test items per batch")
    parser.add_argument("--test_file", "--data.test_file", help="text-files runs: your test texts (default: the run's)")
    args = parse(parser, argv)
    checkpoints = [Path(path) for path in args.ckpt_path]
    out = args.out or default_out(checkpoints[0]).with_name("ensemble")
    report, written = evaluate_ensemble(checkpoints, out, args.data_dir, args.batch_size, args.test_file)
    print(report.to_markdown())
    print("Test report: " + ", ".join(map(str, written)), flush=True)
    return report.metrics()
