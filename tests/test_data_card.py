"""docs/data.md's data card: the duplicate-wire counts, recomputed from the real file."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightning_seq.data import reuters
from lightning_seq.data.duplicates import DuplicateFacts, duplicate_facts

from .conftest import REPO_ROOT


def test_duplicate_wire_counts_are_what_the_data_card_says(real_data_dir: Path) -> None:
    facts = duplicate_facts(reuters.load_raw(real_data_dir))
    assert facts == DuplicateFacts(
        wires=11228, distinct=10439, conflicting_groups=397, conflicting_wires=886, consecutive_groups=371,
        test_copies=237, test_other_label=145, test_label_unseen=126, test_ceiling=pytest.approx(0.99199, abs=1e-5),
    )  # fmt: skip
    card = (REPO_ROOT / "docs" / "data.md").read_text()
    for number in ("10,439", "397 (886 wires)", "| 371 |", "| 237 |", "| 145 |", "| 126 |", "0.992", "0.944"):
        assert number in card
    assert 1 - facts.test_label_unseen / 2246 == pytest.approx(0.944, abs=5e-4)
