"""Every shipped YAML parses through the real CLI; the seed presets keep the seed's setup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lightning_seq.cli.lightning_cli import fit_main
from lightning_seq.recipes.presets import PRESETS, render_preset

from .conftest import CONFIGS

MODEL_CONFIGS = sorted(CONFIGS.glob("*.yaml"))
TRAINER_OVERLAYS = sorted((CONFIGS / "trainer").glob("*.yaml"))
LOGGER_OVERLAYS = sorted((CONFIGS / "logger").glob("*.yaml"))
SEARCH = sorted((CONFIGS / "search").glob("*.yaml"))  # tune's spaces and the overlay they search from
DATA_OVERLAYS = sorted((CONFIGS / "data").glob("*.yaml"))  # the text-files DataModule on the Reuters wires as text
PRETRAIN_CONFIGS = sorted((CONFIGS / "pretrain").glob("*.yaml"))  # language models for scripts/pretrain.py
SEARCH_BASE = ["--config", str(CONFIGS / "best.yaml"), "--config", str(CONFIGS / "search" / "validated.yaml")]


def parse(capsys: pytest.CaptureFixture, *configs: Path) -> dict:
    args = [item for config in configs for item in ("--config", str(config))]
    with pytest.raises(SystemExit) as exit_:
        fit_main([*args, "--print_config"])
    assert exit_.value.code in (0, None), capsys.readouterr().err
    return yaml.safe_load(capsys.readouterr().out)


def test_every_yaml_is_covered() -> None:
    shipped = set(CONFIGS.rglob("*.yaml"))
    overlays = set(TRAINER_OVERLAYS) | set(LOGGER_OVERLAYS) | set(SEARCH) | set(DATA_OVERLAYS)
    assert shipped == set(MODEL_CONFIGS) | overlays | set(PRETRAIN_CONFIGS)
    assert {p.stem for p in LOGGER_OVERLAYS} == {"tensorboard", "csv", "mlflow", "tensorboard+csv"}
    assert {p.stem for p in MODEL_CONFIGS} >= {"rnn", "lstm", "gru", "bilstm", "bigru"}
    assert {p.stem for p in TRAINER_OVERLAYS} >= {"cpu", "gpu", "bf16-mixed", "16-mixed"}


@pytest.mark.parametrize("config", MODEL_CONFIGS, ids=lambda p: p.stem)
def test_model_config_parses(config: Path, capsys: pytest.CaptureFixture) -> None:
    parsed = parse(capsys, config)
    name = config.stem
    # The named recipes keep their name; a preset's run is named after its model when it starts (lightning_logs/gru/)
    assert parsed["trainer"]["logger"]["init_args"]["name"] == (name if name in ("best", "fast") else "lightning_logs")
    assert parsed["trainer"]["logger"]["init_args"]["save_dir"] == "lightning_logs"  # under default_root_dir
    if name not in ("best", "fast"):
        assert parsed["model"]["cell"] == name.removeprefix("bi")
        assert parsed["model"]["bidirectional"] is name.startswith("bi")


@pytest.mark.parametrize("space", [path for path in SEARCH if path.stem != "validated"], ids=lambda p: p.stem)
def test_shipped_search_spaces_pass_the_fit_parser_from_their_documented_base(space: Path) -> None:
    from lightning_seq.tune.search_space import check_space, load_space

    base = check_space(load_space(space), SEARCH_BASE, source=str(space))
    assert (
        base["data"]["init_args"]["val_split"] == 0.2 and base["checkpoint"]["monitor"] == "val/acc"
    )  # the overlay applied
    assert f"--space configs/search/{space.name}" in space.read_text()  # its header says how to run it


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_written_from_the_one_recipe(name: str) -> None:
    """Drift: configs/<preset>.yaml is exactly what the recipe renders (python -m lightning_seq.recipes.presets)."""
    assert (CONFIGS / f"{name}.yaml").read_text() == render_preset(name)


def test_flags_alone_train_the_recipe_under_the_models_name(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        fit_main(["--cell", "lstm", "--bidirectional", "--print_config"])
    flags = yaml.safe_load(capsys.readouterr().out)
    preset = parse(capsys, CONFIGS / "bilstm.yaml")
    # The run name is filled in from the model when the run starts (tests/test_cli.py: lightning_logs/bilstm/).
    assert flags["trainer"]["logger"]["init_args"]["name"] == "lightning_logs"
    for section in ("model", "data", "trainer", "seed_everything"):
        assert flags[section] == preset[section], section


def test_best_recipe_is_what_the_readme_says(capsys: pytest.CaptureFixture) -> None:
    parsed = parse(capsys, CONFIGS / "best.yaml")
    model, data = parsed["model"], parsed["data"]["init_args"]
    assert (model["cell"], model["bidirectional"], model["hidden_size"], model["pooling"]) == ("gru", True, 188, "max")
    assert model["optimizer"]["class_path"] == "torch.optim.AdamW" and model["optimizer"]["init_args"]["fused"]
    assert (model["ngram_order"], model["ngram_buckets"], model["ngram_width"]) == (2, 50000, 117)  # bigram branch
    assert model["scheduler"]["class_path"] == "torch.optim.lr_scheduler.OneCycleLR"
    assert (data["val_split"], data["num_words"], data["maxlen"]) == (0.0, None, 500)  # final fit on all 8,982 wires
    assert parsed["checkpoint"]["monitor"] is None and parsed["trainer"]["gradient_clip_val"] == 1.0


def test_best_recipe_trains_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real YAML (scheduler, no validation, final weights kept), shrunk to a few steps."""
    monkeypatch.chdir(tmp_path)
    tiny = ["--hidden_size", "8", "--model.embedding_dim", "8", "--max_epochs", "2"]
    limits = ["--trainer.limit_train_batches", "3", "--trainer.limit_test_batches", "2"]
    metrics = fit_main(
        ["--config", str(CONFIGS / "best.yaml"), *tiny, *limits, "--trainer.enable_progress_bar", "false"]
    )
    run = tmp_path / "lightning_logs" / "best" / "version_0"
    written = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert written == ["final-epoch02.ckpt", "last.ckpt", "training_curves.png"]  # epochs count from 1; train curves
    summary = json.loads((run / "run_summary.json").read_text())
    assert summary["best_checkpoint"].endswith("final-epoch02.ckpt") and summary["test"] == metrics


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_seed_presets_keep_the_seed_setup(name: str, capsys: pytest.CaptureFixture) -> None:
    parsed = parse(capsys, CONFIGS / f"{name}.yaml")
    assert parsed["model"]["hidden_size"] == 64 and parsed["model"]["optimizer"]["class_path"] == "torch.optim.Adam"
    assert parsed["trainer"]["max_epochs"] == 5
    data = parsed["data"]["init_args"]
    assert parsed["data"]["class_path"].endswith(".ReutersDataModule")
    assert (data["batch_size"], data["val_split"], data["maxlen"]) == (128, 0.2, 200)


@pytest.mark.parametrize("overlay", TRAINER_OVERLAYS, ids=lambda p: p.stem)
def test_trainer_overlay_layers_on_a_model_config(overlay: Path, capsys: pytest.CaptureFixture) -> None:
    parsed = parse(capsys, CONFIGS / "gru.yaml", overlay)
    expected = yaml.safe_load(overlay.read_text())["trainer"]
    assert {key: parsed["trainer"][key] for key in expected} == expected
    assert parsed["model"]["cell"] == "gru"  # the overlay touched only the trainer


@pytest.mark.parametrize("overlay", LOGGER_OVERLAYS, ids=lambda p: p.stem)
def test_logger_overlay_replaces_the_presets_logger(overlay: Path, capsys: pytest.CaptureFixture) -> None:
    parsed = parse(capsys, CONFIGS / "gru.yaml", overlay)
    loggers = parsed["trainer"]["logger"]
    loggers = loggers if isinstance(loggers, list) else [loggers]
    expected = yaml.safe_load(overlay.read_text())["trainer"]["logger"]
    expected = expected if isinstance(expected, list) else [expected]
    assert [logger["class_path"] for logger in loggers] == [logger["class_path"] for logger in expected]
    assert all(logger["init_args"]["save_dir"] in ("lightning_logs", "mlruns") for logger in loggers)


@pytest.mark.parametrize("overlay", DATA_OVERLAYS, ids=lambda p: p.stem)
def test_data_overlay_switches_to_text_files_and_keeps_the_recipes_shared_settings(
    overlay: Path, capsys: pytest.CaptureFixture
) -> None:
    parsed = parse(capsys, CONFIGS / "fast.yaml", overlay)
    data = parsed["data"]["init_args"]
    assert parsed["data"]["class_path"] == "lightning_seq.TextFilesDataModule"
    assert data["train_file"].startswith("data/reuters-text/") and data["test_file"].startswith("data/reuters-text/")
    assert (data["batch_size"], data["num_words"], data["val_split"]) == (64, None, 0.2)  # fast.yaml's
    assert "python scripts/reuters_text.py" in overlay.read_text() or "scripts/reuters_text.py" in overlay.read_text()


@pytest.mark.parametrize("config", PRETRAIN_CONFIGS, ids=lambda p: p.stem)
def test_pretrain_configs_parse_and_match_their_recipes_encoder(config: Path, capsys: pytest.CaptureFixture) -> None:
    from lightning_seq.cli.pretrain import main as pretrain_main

    with pytest.raises(SystemExit) as exit_:
        pretrain_main(["--config", str(config), "--print_config"])
    assert exit_.value.code in (0, None), capsys.readouterr().err
    language_model = yaml.safe_load(capsys.readouterr().out)
    recipe = parse(capsys, CONFIGS / f"{config.stem}.yaml")
    for key in ("cell", "embedding_dim", "hidden_size", "num_layers", "bidirectional"):
        assert language_model["model"][key] == recipe["model"][key], key
    for key in ("num_words", "maxlen", "val_split", "val_seed"):
        assert language_model["data"]["init_args"][key] == recipe["data"]["init_args"][key], key
