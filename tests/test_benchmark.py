"""scripts/benchmark.py on a few real batches: both runners, both batchings, JSON and table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightning_seq.experiments import benchmark


def test_benchmark_compares_lightning_and_plain_on_identical_work(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ["--cells", "gru", "--directions", "uni", "--max_batches", "6", "--warmup", "2", "--repeats", "2"]
    args += ["--json", str(out)]
    results = benchmark.main(args)
    assert {(m.runner, m.batching) for m in results} == {
        (runner, batching) for runner in ("plain", "lightning") for batching in ("padded-200", "bucketed")
    }
    for batching in ("padded-200", "bucketed"):
        plain, lightning = (
            next(m for m in results if (m.runner, m.batching) == (r, batching)) for r in ("plain", "lightning")
        )
        # Same initial weights and batches, so the same loss after the same steps (CPU is deterministic).
        assert lightning.final_loss == pytest.approx(plain.final_loss, rel=1e-5)
        assert plain.samples_per_s > 0 and lightning.tokens_per_s > 0 and len(plain.samples_per_s_runs) == 2
    saved = json.loads(out.read_text())
    assert len(saved["results"]) == 4 and saved["settings"]["max_batches"] == "6"
    table = benchmark.table(results)
    assert "bucketed / padded" in table and table.count("\n") == 3


def test_too_much_warmup_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="lower --warmup"):
        benchmark.main(["--cells", "rnn", "--directions", "uni", "--batching", "bucketed", "--runners", "plain",
                        "--max_batches", "2", "--warmup", "2", "--repeats", "1",
                        "--json", str(tmp_path / "b.json")])  # fmt: skip
