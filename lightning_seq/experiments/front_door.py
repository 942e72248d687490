"""The whole ``scripts/fit.py`` command against the plain-PyTorch script a careful user would write instead.

Both run as fresh processes (imports, data loading, validation each epoch, the final test all counted) on
the same preset, one after the other, ``--repeats`` times alternating; the fastest wall time of each is
reported with their ratio. ``python -m lightning_seq.experiments.front_door --config configs/gru.yaml``.
Never run it beside another torch process: on 2 cores they slow each other ~20x.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def plain_main(config: str) -> None:
    """Fit the preset's model with a plain loop (same data, optimizer, epochs), validate each epoch, test once."""
    import torch
    from torch.nn import functional as F

    from lightning_seq.cli.lightning_cli import recipe_defaults
    from lightning_seq.data.datamodule import ReutersDataModule
    from lightning_seq.nn.classifier import RecurrentClassifier
    from lightning_seq.recipes.presets import SEED_RECIPE

    settings = recipe_defaults(SEED_RECIPE) | recipe_defaults(Path(config))
    torch.manual_seed(settings.get("seed_everything", 42))
    data_keys = {key.removeprefix("data."): value for key, value in settings.items() if key.startswith("data.")}
    data = ReutersDataModule(**data_keys)
    data.prepare_data()
    data.setup("fit")
    model_keys = ("cell", "bidirectional", "hidden_size", "num_layers", "embedding_dim", "dropout", "pooling")
    net = RecurrentClassifier(
        data.vocab_size,
        data.num_classes,
        **{key: settings[f"model.{key}"] for key in model_keys if f"model.{key}" in settings},
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=settings["model.optimizer"]["init_args"]["lr"])

    def accuracy(loader: torch.utils.data.DataLoader) -> float:
        net.eval()
        right = total = 0
        with torch.no_grad():
            for batch in loader:
                right += int((net(batch.tokens, batch.lengths).argmax(-1) == batch.labels).sum())
                total += len(batch.labels)
        net.train()
        return right / total

    best, best_state = -1.0, None
    for epoch in range(settings["trainer.max_epochs"]):
        start = time.perf_counter()
        for batch in data.train_dataloader():
            loss = F.cross_entropy(net(batch.tokens, batch.lengths), batch.labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        val = accuracy(data.val_dataloader())
        if val > best:
            best, best_state = val, {key: tensor.clone() for key, tensor in net.state_dict().items()}
        print(f"epoch {epoch + 1}: val acc {val:.4f} {time.perf_counter() - start:.2f} s", flush=True)
    net.load_state_dict(best_state)
    data.setup("test")
    print(json.dumps({"test_acc": accuracy(data.test_dataloader())}))


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "gru.yaml"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.plain:
        plain_main(args.config)
        return {}
    config = str(Path(args.config).resolve())
    epochs = yaml.safe_load(Path(config).read_text()).get("trainer", {}).get("max_epochs", 5)
    walls: dict[str, list[float]] = {"fit.py": [], "plain": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as work:
            fit = [sys.executable, str(REPO / "scripts" / "fit.py"), "--config", config]
            walls["fit.py"].append(timed([*fit, "--trainer.enable_progress_bar", "false"], Path(work)))
            walls["plain"].append(timed([sys.executable, "-m", __spec__.name, "--plain", "--config", config], REPO))
    result = {name: min(times) for name, times in walls.items()} | {"epochs": epochs, "runs": walls}
    result["fit_speed_vs_plain"] = result["plain"] / result["fit.py"]
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
