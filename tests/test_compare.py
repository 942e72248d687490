"""scripts/compare.py: a real (tiny) grid through the CLI, its table, CSV and plot."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from lightning_seq.experiments.compare import COLUMNS, main

from .conftest import CONFIGS

ROOT = CONFIGS.parent
TINY = [
    "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2",
    "--trainer.limit_test_batches", "2", "--model.hidden_size", "8", "--model.embedding_dim", "8",
]  # fmt: skip


def test_compare_trains_the_grid_and_reports_what_each_run_wrote(tmp_path: Path) -> None:
    out = tmp_path / "comparison"
    args = ["--configs", f"seed={CONFIGS / 'gru.yaml'}", "--cells", "lstm", "--directions", "uni", "bi"]
    results = main([*args, "--out", str(out), *TINY])
    assert [(r.recipe, r.model) for r in results] == [("seed", "lstm"), ("seed", "bilstm")]
    for result in results:
        summary = json.loads((Path(result.log_dir) / "run_summary.json").read_text())
        assert result.test_acc == summary["test"]["test/acc"] and result.parameters == summary["parameters"]
        assert result.epochs == 2 and len(result.val_acc_curve) == 2
        assert max(result.val_acc_curve) == result.best_val_acc == summary["best_val_acc"]  # = the best checkpoint's
    assert results[1].parameters > results[0].parameters  # the backward direction is really there

    with (out / "results.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == list(COLUMNS) and [row["model"] for row in rows] == ["lstm", "bilstm"]
    assert float(rows[1]["test_acc"]) == results[1].test_acc
    table = (out / "results.md").read_text().splitlines()
    assert table[0] == "| " + " | ".join(COLUMNS.values()) + " |" and len(table) == 4
    assert f"| {results[0].parameters:,} | 2 |" in table[2]
    assert (out / "val_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(json.loads((out / "results.json").read_text())) == 2


def test_compare_script_refuses_a_missing_config(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "compare.py"
    run = subprocess.run(
        [sys.executable, str(script), "--configs", "configs/nope.yaml", "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode != 0 and "no config at configs/nope.yaml; pass existing YAML files to --configs" in run.stderr
