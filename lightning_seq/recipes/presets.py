"""The five seed presets, ``configs/{rnn,lstm,gru,bilstm,bigru}.yaml``, written from one recipe.

``lightning_seq/recipes/seed.yaml`` holds every setting they share (it is also what ``scripts/fit.py``
uses when no ``--config`` is given); a preset adds only its cell and direction (runs are named after the
model: ``lightning_logs/bigru/``). Each preset file stays complete and commented, so that a user reads one
file. After changing the recipe, run ``python -m lightning_seq.recipes.presets`` to rewrite them; a test
fails while they differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

SEED_RECIPE = Path(__file__).with_name("seed.yaml")

# name -> (cell, bidirectional, description)
PRESETS: dict[str, tuple[str, bool, str]] = {
    "rnn": ("rnn", False, "A tanh RNN(64)"),
    "lstm": ("lstm", False, "LSTM(64)"),
    "gru": ("gru", False, "GRU(64)"),
    "bilstm": ("lstm", True, "A bidirectional LSTM(64)"),
    "bigru": ("gru", True, "A bidirectional GRU(64)"),
}
_MODEL = "model:\n"


def render_preset(name: str, recipe: str | None = None) -> str:
    """The text of ``configs/<name>.yaml``: a header, the recipe, and the preset's cell, direction and run name."""
    cell, bidirectional, description = PRESETS[name]
    recipe = SEED_RECIPE.read_text() if recipe is None else recipe
    body = "".join(line for line in recipe.splitlines(keepends=True) if not line.startswith("#"))
    if body.count(_MODEL) != 1:
        raise ValueError(f"{SEED_RECIPE} must keep one {_MODEL.strip()!r} line")
    both_ways = "# also read each newswire backwards; the head sees both final states"
    model = (
        f"{_MODEL}  cell: {cell:<24}# rnn | lstm | gru\n  bidirectional: {str(bidirectional).lower():<15}{both_ways}\n"
    )
    body = body.replace(_MODEL, model)
    header = (
        f"# {description} with the seed notebook's budget: hidden 64, 5 epochs, batch 128, maxlen 200, Adam, "
        "20 % validation.\n"
        f"# Train:  python scripts/fit.py --config configs/{name}.yaml\n"
        "# Layer a trainer overlay after it, e.g.  --config configs/trainer/gpu.yaml --config "
        "configs/trainer/bf16-mixed.yaml\n"
        "# Written from lightning_seq/recipes/seed.yaml by python -m lightning_seq.recipes.presets: edit the recipe.\n"
    )
    return header + body


def write_presets(directory: Path) -> list[Path]:
    written = []
    for name in PRESETS:
        path = directory / f"{name}.yaml"
        path.write_text(render_preset(name))
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("configs")
    for path in write_presets(target):
        print(f"wrote {path}")
