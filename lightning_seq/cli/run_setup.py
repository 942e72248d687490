"""Where a fit writes, settled on the parsed config before anything is built.

- A logger's relative ``save_dir`` lies under ``trainer.default_root_dir`` (default: the working directory), so
  ``--trainer.default_root_dir DIR`` moves everything a run writes, as it does with Lightning's default logger
  (the presets' ``lightning_logs`` becomes ``DIR/lightning_logs``). Without one: ``lightning_logs``, or ``mlruns``
  for MLflow.
- A run without a name of its own is named after its model (``gru``, ``bilstm``), so ``--cell lstm`` logs an LSTM
  under ``lstm/`` whatever preset it started from.
- ``--ckpt_path last`` is the newest ``last.ckpt`` of this run name whose model has the configured architecture.
- A new run never writes into a directory that already holds a run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from lightning_seq.errors import BadValue, MissingFile, NotWritable
from lightning_seq.inference.loading import read_checkpoint
from lightning_seq.training.module import ARCHITECTURE

FOLDERS = {"MLFlowLogger": "mlruns"}  # a logger's folder under default_root_dir; the others': lightning_logs
NAME_KEYS = {"MLFlowLogger": "experiment_name"}  # the init argument that names a group of runs; the others': name
VERSION_KEYS = {"MLFlowLogger": "run_id"}  # the one that picks a run within the group; the others': version
UNNAMED = (None, "lightning_logs")  # every Lightning logger's default name
RUN_FILES = ("config.yaml", "checkpoints/last.ckpt")  # a directory holding either already holds a run


def logger_configs(config: Any) -> list[Any]:
    """The configured loggers' namespaces (``class_path`` and ``init_args``): none, one or a list."""
    logger = config.trainer.get("logger")
    loggers = logger if isinstance(logger, list) else [logger]
    return [item for item in loggers if hasattr(item, "get") and item.get("init_args") is not None]


def _kind(logger: Any) -> str:
    return str(logger.class_path).rsplit(".", 1)[-1]


def place_loggers(config: Any) -> None:
    """Put every logger's relative ``save_dir`` under ``default_root_dir``, and give unnamed runs a name."""
    root = Path(config.trainer.get("default_root_dir") or ".")
    run_name = ("bi" if config.model.get("bidirectional") else "") + str(config.model.get("cell"))
    for logger in logger_configs(config):
        kind, init = _kind(logger), logger.init_args
        if kind == "MLFlowLogger" and not init.get("tracking_uri") and "MLFLOW_ALLOW_FILE_STORE" not in os.environ:
            raise BadValue(
                "MLflow's local file store (mlruns/) needs MLFLOW_ALLOW_FILE_STORE=true in the environment (MLflow 3 "
                "keeps it in maintenance mode); or set --trainer.logger.init_args.tracking_uri to a database URL"
            )
        save_dir = init.get("save_dir") or FOLDERS.get(kind, "lightning_logs")
        if "://" not in str(save_dir):  # a local path, not s3:// or the like
            init["save_dir"] = str(root / save_dir)  # an absolute save_dir stays what it is
        name = NAME_KEYS.get(kind, "name")
        if init.get(name) in UNNAMED:
            init[name] = run_name
    share_one_version(logger_configs(config))


def share_one_version(loggers: list[Any]) -> None:
    """Several numbered loggers (TensorBoard and CSV) of one run write to one ``version_N``, not to N and N + 1."""
    numbered = [logger.init_args for logger in loggers if _kind(logger) not in VERSION_KEYS]
    if len(numbered) < 2 or any(init.get("version") is not None for init in numbered):
        return
    group = Path(numbered[0]["save_dir"]) / str(numbered[0].get("name") or "")
    taken = [int(path.name.split("_")[1]) for path in group.glob("version_*") if path.name.split("_")[1].isdigit()]
    for init in numbered:
        init["version"] = max(taken, default=-1) + 1  # the rule each of them applies on its own


def resolve_last_checkpoint(config: Any) -> Path:
    """``--ckpt_path last``: the newest ``last.ckpt`` of this run name with the configured model's architecture.

    The first logger's version (MLflow: run id) is set to that run's, so the resumed run continues its folder.
    """
    loggers = logger_configs(config)
    if loggers:
        logger = loggers[0]
        kind, init = _kind(logger), logger.init_args
        if kind in NAME_KEYS:  # MLflow: <save_dir>/<experiment id>/<run id>/, the experiment named in its meta.yaml
            groups = [meta.parent for meta in Path(init["save_dir"]).glob("*/meta.yaml") if _names(meta, init)]
            where = f"{init['save_dir']}/<experiment {init[NAME_KEYS[kind]]}>/*/checkpoints/last.ckpt"
        else:
            groups = [Path(init["save_dir"]) / str(init.get("name") or "")]
            where = f"{groups[0]}/*/checkpoints/last.ckpt"
        candidates = [path for group in groups for path in group.glob("*/checkpoints/last.ckpt")]
    else:
        root = Path(config.trainer.get("default_root_dir") or ".")
        candidates = [path for path in [root / "checkpoints" / "last.ckpt"] if path.is_file()]
        where = str(root / "checkpoints" / "last.ckpt")
    if not candidates:
        raise MissingFile(f"--ckpt_path last: no {where} to resume from")
    candidates.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    last = next((path for path in candidates if _same_architecture(path, config.model)), candidates[0])
    key = VERSION_KEYS.get(kind, "version") if loggers else None
    for other in loggers:  # every logger continues that run (several numbered loggers share its version)
        if VERSION_KEYS.get(_kind(other), "version") == key:
            other.init_args[key] = last.parent.parent.name
    config.ckpt_path = str(last)
    if rank_zero_only.rank == 0:  # DDP's other ranks run this command too
        print(f"Resuming from {last}", flush=True)
    return last


def _names(meta: Path, init: Any) -> bool:
    return (yaml.safe_load(meta.read_text()) or {}).get("name") == init.get("experiment_name")


def _same_architecture(checkpoint: Path, model: Any) -> bool:
    saved = read_checkpoint(checkpoint)["hyper_parameters"]
    return all(saved.get(key) == model.get(key) for key in ARCHITECTURE if key in saved and key in model)


def refuse_to_overwrite(directory: Path, ckpt_path: str | None) -> None:
    """A new run writes into an empty (or new) directory; only a resumed run continues its own."""
    resuming_here = ckpt_path is not None and directory.resolve() in Path(ckpt_path).resolve().parents
    held = [name for name in RUN_FILES if (directory / name).exists()]
    if held and not resuming_here:
        raise BadValue(
            f"{directory} already holds a run ({', '.join(held)}); resume it with --ckpt_path last, or give this "
            "run its own directory (--trainer.default_root_dir DIR, or a logger that numbers its versions)"
        )


def ensure_writable(directory: Path) -> Path | None:
    """Fail before training, not after an hour of it, when the run's logs and checkpoints cannot be written.

    Returns the directory if this call created it (so that a run failing before it writes anything can remove it).
    """
    created = None if directory.exists() else directory
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise NotWritable(
            f"cannot write the run's logs and checkpoints to {directory} ({error.strerror or error}); choose a "
            "writable --trainer.default_root_dir (or the logger's save_dir), or fix its permissions"
        ) from error
    return created


def require_supported_precision(accelerator: Any, precision: Any) -> None:
    """float16 autocast is CUDA's: refuse it on CPU instead of running bf16-mixed while config.yaml says 16-mixed."""
    on_cpu = str(accelerator).lower() == "cpu" or (
        str(accelerator) in ("auto", "None") and not torch.cuda.is_available()
    )
    if on_cpu and str(precision) in ("16", "16-mixed"):
        raise BadValue(
            f"--precision {precision}: float16 autocast needs a CUDA GPU; on CPU use bf16-mixed (bfloat16 autocast) "
            "or 32-true"
        )


def require_valid_devices(accelerator: Any, devices: Any) -> None:
    """``--devices``: a count, ``-1`` (every GPU), GPU indices (``0,1``) or ``auto``; anything else in one line."""
    text = str(devices).strip().strip("[]")
    chosen = str(accelerator).lower()
    on_cpu = chosen == "cpu" or (chosen in ("auto", "none") and not torch.cuda.is_available())
    parts = [part.strip() for part in text.split(",") if part.strip()]
    numbers = [int(part) for part in parts if part.lstrip("-").isdigit()]
    if text == "auto" or (len(numbers) == 1 == len(parts) and (numbers[0] > 0 or (numbers[0] == -1 and not on_cpu))):
        return
    if not on_cpu and len(numbers) == len(parts) > 0 and all(number >= 0 for number in numbers) and "," in text:
        return  # GPU indices
    raise BadValue(
        f"--devices {devices}: give a number of devices (an integer > 0), "
        + ("" if on_cpu else "-1 for every GPU, GPU indices such as 0,1, ")
        + "or auto"
        + (" (on CPU, --devices N runs N processes with --strategy ddp)" if on_cpu else "")
    )


def require_text_configs(argv: list[str]) -> None:
    """A ``--config`` file that is not text (a binary, a wrong download) is named in one line, not a decode trace."""
    for position, arg in enumerate(argv[:-1]):
        path = Path(argv[position + 1])
        if arg == "--config" and path.is_file():
            try:
                path.read_text(encoding="utf-8")
            except UnicodeDecodeError as error:
                raise BadValue(
                    f"--config {path} is not a YAML text file (byte {error.start} is not UTF-8); give a YAML file "
                    "such as configs/gru.yaml"
                ) from None


def require_visible_accelerator(accelerator: Any) -> None:
    """``--accelerator gpu`` (or ``cuda``) on a machine where torch sees no CUDA device: say so before building."""
    if str(accelerator).lower() not in ("gpu", "cuda") or torch.cuda.is_available():
        return
    build = f"torch {torch.__version__}" + ("" if torch.version.cuda else ", a CPU-only build")
    raise BadValue(
        f"--accelerator {accelerator}: no CUDA device is visible ({build}); use --accelerator cpu (or auto), "
        "or install a CUDA build of torch on a machine with an NVIDIA GPU"
    )
