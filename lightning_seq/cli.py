"""LightningCLI front door: YAML configs, short flags, and fit followed by a test of the best checkpoint."""

from __future__ import annotations

import json
import re
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, NoReturn

import torch
import yaml
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lightning_seq.callbacks import EpochTimer, TestReport, TrainingCurves
from lightning_seq.checkpoint_io import AtomicCheckpointIO
from lightning_seq.checkpoints import read_checkpoint
from lightning_seq.console import EpochLog, EpochProgressBar, ModelTable, OneBasedCheckpoint, quiet_start
from lightning_seq.constraints import plain_number
from lightning_seq.data import ReutersDataModule
from lightning_seq.errors import USAGE_ERROR, BadValue, MissingFile, NotWritable, report_user_errors
from lightning_seq.module import SequenceClassifier
from lightning_seq.presets import SEED_RECIPE
from lightning_seq.shutdown import SIGTERM_EXIT, end_stuck_process_on_sigterm

# Short aliases for the settings people change most; each expands in place to its full key,
# so it overrides a --config given before it and is overridden by one given after it.
SHORT_FLAGS = {
    "--cell": "--model.cell",
    "--bidirectional": "--model.bidirectional",
    "--hidden_size": "--model.hidden_size",
    "--num_layers": "--model.num_layers",
    "--accelerator": "--trainer.accelerator",
    "--devices": "--trainer.devices",
    "--strategy": "--trainer.strategy",
    "--precision": "--trainer.precision",
    "--max_epochs": "--trainer.max_epochs",
    "--batch_size": "--data.batch_size",
    "--data_dir": "--data.data_dir",
}
_SWITCHES = {"--bidirectional"}  # may be given without a value, meaning true

DESCRIPTION = (
    "Train a recurrent classifier on Reuters newswire topics, then test its best checkpoint.\n"
    "Short flags: "
    + ", ".join(f"{short} (= {full})" for short, full in SHORT_FLAGS.items())
    + ".\nExample: python scripts/fit.py --config configs/gru.yaml --cell lstm --bidirectional --max_epochs 3"
)


# The settings people change most after the short flags, for the short --help.
COMMON_KEYS = {
    "--config FILE": "a YAML preset or overlay (configs/*.yaml); repeatable, later arguments win",
    "--ckpt_path PATH|last": "resume a run: a checkpoint file, or the newest last.ckpt of this config's runs",
    "--seed_everything N": "the seed of weights, shuffling and dropout (default 42)",
    "--model.embedding_dim N": "word-vector width",
    "--model.dropout P": "dropout between layers and before the head, in [0, 1)",
    "--model.pooling NAME": "last | mean | max | attention",
    "--model.optimizer.init_args.lr LR": "learning rate (--model.optimizer CLASS picks another optimizer)",
    "--data.num_words N": "vocabulary: the N - 3 most frequent words (null: all)",
    "--data.maxlen N": "cut each newswire to its last N tokens",
    "--trainer.limit_train_batches N": "train on N batches per epoch (a quick try)",
    "--print_config": "print the full configuration and exit",
    "--help_all": "every option (Trainer, logger, callbacks: several hundred lines)",
}


def short_help() -> str:
    """``--help``: the short flags and the common keys, in a screen; ``--help_all`` has everything."""
    width = max(map(len, [*SHORT_FLAGS, *COMMON_KEYS])) + 2
    lines = [
        "usage: python scripts/fit.py [--config FILE ...] [--short_flag VALUE ...] [--section.key VALUE ...]",
        "",
        DESCRIPTION.splitlines()[0],
        "",
        "short flags (each expands in place to its full key):",
        *(f"  {short:<{width}}= {full}" for short, full in SHORT_FLAGS.items()),
        "",
        "common keys:",
        *(f"  {key:<{width}}{what}" for key, what in COMMON_KEYS.items()),
        "",
        DESCRIPTION.splitlines()[-1],
    ]
    return "\n".join(lines)


def expand_short_flags(args: list[str]) -> list[str]:
    """Rewrite ``--cell lstm`` to ``--model.cell lstm`` (and so on), keeping the order of ``args``."""
    expanded = []
    for position, arg in enumerate(args):
        name, equals, value = arg.partition("=")
        if name not in SHORT_FLAGS:
            expanded.append(arg)
            continue
        expanded.append(SHORT_FLAGS[name] + equals + value)
        following = args[position + 1] if position + 1 < len(args) else "-"
        if name in _SWITCHES and not equals and following.startswith("-"):
            expanded.append("true")
    return expanded


class OneLineErrorParser(LightningArgumentParser):
    """A bad option or value is answered with one line that names it, not the whole usage block first."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not self.exit_on_error:  # a parser used inside another (subcommands, nested configs) reports upwards
            super().error(message, ex)
        sys.stderr.write(f"error: {_one_line(message)} (see --help)\n")
        self.exit(USAGE_ERROR)


def _one_line(message: str) -> str:
    """jsonargparse's multi-line report as one line: ``--data.batch_size 0: must satisfy batch_size>0``."""
    key = re.search(r'Parser key "([^"]+)"', message)
    restriction = re.search(r"does not conform to restriction (.+)", message)
    given = re.search(r"Given value: (.+)", message) or re.search(r"Not of type \w+: (.+?) does not conform", message)
    if key and restriction and given:
        name = key.group(1).rsplit(".", 1)[-1]
        rule = re.sub(r"\bv\b", name, restriction.group(1).strip())
        return f"--{key.group(1)} {given.group(1).strip()}: must satisfy {rule}"
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


class SeqCLI(LightningCLI):
    """Links the DataModule's vocabulary and classes into the model, and configures checkpointing."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # Without --config, flags alone train the presets' recipe, not 1,000 epochs at lr 1e-3.
        parser.set_defaults(recipe_defaults(SEED_RECIPE))
        parser.link_arguments("data.vocab_size", "model.vocab_size", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        # Two plain ModelCheckpoints keep last.ckpt current: `checkpoint` after every epoch's validation (with the
        # best by val/acc), `step_checkpoint` every 50 optimizer steps inside epochs, so that a killed run loses
        # at most that many steps. The training loader's state (lightning_seq.batching) makes the resume exact.
        parser.add_lightning_class_args(OneBasedCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.filename": "best-epoch{epoch:02d}-val_acc{val/acc:.4f}",
                "checkpoint.auto_insert_metric_name": False,
                "checkpoint.save_last": True,
                "checkpoint.enable_version_counter": False,  # one last.ckpt, shared with step_checkpoint
            }
        )
        parser.add_lightning_class_args(ModelCheckpoint, "step_checkpoint")
        parser.set_defaults(
            {
                "step_checkpoint.every_n_train_steps": 50,
                "step_checkpoint.save_top_k": 0,  # last.ckpt only; the best checkpoints come from `checkpoint`
                "step_checkpoint.save_last": True,
                "step_checkpoint.enable_version_counter": False,  # a resumed run overwrites its own last.ckpt
            }
        )
        parser.add_lightning_class_args(ModelTable, "summary")
        parser.set_defaults({"summary.max_depth": 2})  # embedding, encoder and head with their parameter counts
        parser.add_lightning_class_args(EpochTimer, "epoch_timer")
        parser.add_lightning_class_args(EpochLog, "epoch_log")  # one line per epoch, as Keras prints
        parser.add_lightning_class_args(LearningRateMonitor, "lr_monitor")  # the lr curve in TensorBoard
        parser.add_lightning_class_args(TestReport, "test_report")  # per-topic report + figures after the test
        parser.add_lightning_class_args(TrainingCurves, "training_curves")  # PNG next to the checkpoints
        parser.add_argument(
            "--ckpt_path",
            type=str | None,
            default=None,
            help="Resume fitting from this checkpoint file, or 'last': the newest last.ckpt of this config's "
            "logger directory (<save_dir>/<name>/version_*/), whose version the resumed run keeps logging to.",
        )

    def before_instantiate_classes(self) -> None:
        for key, value in self.config.items():  # restricted numbers (PositiveInt, ...) -> plain, for checkpoints
            if plain_number(value) is not value:
                self.config[key] = plain_number(value)
        require_visible_accelerator(self.config.trainer.get("accelerator"))
        name_run_after_model(self.config)
        if self.config.get("ckpt_path") == "last":
            resolve_last_checkpoint(self.config)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        trainer = super().instantiate_trainer(**kwargs)
        for position, callback in enumerate(trainer.callbacks):
            if type(callback) is TQDMProgressBar:  # Lightning's default bar, not one the user configured
                trainer.callbacks[position] = EpochProgressBar(callback.refresh_rate)
        if not trainer.loggers:  # --trainer.logger false: nothing to draw the learning rate in
            trainer.callbacks = [cb for cb in trainer.callbacks if not isinstance(cb, LearningRateMonitor)]
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # Lightning's default, not the user's own
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        if str(trainer.precision) != str(self.config.trainer.precision):
            # e.g. 16-mixed on a CPU runs bf16-mixed (Lightning says so): config.yaml records what ran
            self.config.trainer.precision = trainer.precision
        return trainer


@report_user_errors
def main(args: list[str] | None = None) -> dict[str, float]:
    """``scripts/fit.py`` and ``lightning-seq-fit``: :func:`fit_main`, with bad settings answered in one line.

    A stop request (SIGTERM) ends the run even when a rank is stuck, with exit status 143.
    """
    end_stuck_process_on_sigterm()
    try:
        return fit_main(args)
    except SIGTERMException:  # Lightning's graceful stop between batches
        print("Stopped by SIGTERM; continue with the same command and --ckpt_path last", file=sys.stderr)
        raise SystemExit(SIGTERM_EXIT) from None


def fit_main(args: list[str] | None = None) -> dict[str, float]:
    """Fit, test the best checkpoint, write ``test_metrics.json`` to the run's log dir; returns the test metrics.

    Raises :class:`~lightning_seq.errors.UserError` for bad settings and files (:func:`main` prints them).
    """
    warnings.filterwarnings("ignore", ".*does not have many workers.*")  # the data is an in-memory tensor
    quiet_start()
    # The module logs epoch values that torchmetrics already gathered from every rank; Lightning cannot know.
    warnings.filterwarnings("ignore", ".*when logging on epoch level in distributed setting.*")
    # scripts/fit.py hands LightningCLI its own command line, short flags expanded, as `args`.
    warnings.filterwarnings("ignore", ".*not recommended to provide both args and command line arguments.*")
    argv = expand_short_flags(sys.argv[1:] if args is None else args)
    if "-h" in argv or "--help" in argv:
        print(short_help())
        raise SystemExit(0)
    argv = ["--help" if arg == "--help_all" else arg for arg in argv]
    cli = SeqCLI(
        SequenceClassifier,
        ReutersDataModule,
        run=False,
        auto_configure_optimizers=False,  # the model takes its optimizer as an argument (model.optimizer)
        seed_everything_default=42,
        parser_class=OneLineErrorParser,
        parser_kwargs={"description": DESCRIPTION},
        args=argv,
        save_config_kwargs={"overwrite": True},  # a resumed run writes its config into the same directory
    )
    trainer, ckpt_path = cli.trainer, cli.config.ckpt_path
    if ckpt_path:  # refuse an unusable checkpoint before the run's directory is touched (config.yaml included)
        cli.model.check_checkpoint(read_checkpoint(ckpt_path))
    created = None
    if trainer.is_global_zero:  # other DDP ranks would pick their own version number before the group exists
        created = ensure_writable(Path(trainer.log_dir or trainer.default_root_dir))
    try:
        # weights_only: resuming never unpickles arbitrary objects (checkpoints hold tensors and plain values only)
        trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt_path, weights_only=True)
    except BaseException:
        if created is not None and created.is_dir() and not any(created.iterdir()):
            created.rmdir()  # a run that failed before writing anything leaves no empty version_N behind
        raise
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if not best:
        warnings.warn(
            "No best checkpoint was recorded (was validation skipped?); testing the final weights.", stacklevel=2
        )
    metrics = trainer.test(
        cli.model, datamodule=cli.datamodule, ckpt_path=best or None, weights_only=True, verbose=False
    )[0]
    log_dir = Path(trainer.log_dir or trainer.default_root_dir)  # every rank: under DDP log_dir is a broadcast
    if trainer.is_global_zero:
        write_run_report(trainer, log_dir, metrics, best)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # Lightning leaves the process group alive; its gloo threads can abort the interpreter at exit
        # ("terminate called without an active exception") unless the group is destroyed first.
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return metrics


def recipe_defaults(path: Path) -> dict[str, Any]:
    """A recipe YAML as parser defaults: ``{"data.num_words": 10000, "model.optimizer": {class_path: ...}, ...}``.

    (Given as ``default_config_files`` instead, its optimizer would not merge with a config naming another one.)
    """

    def flatten(prefix: str, value: Any) -> dict[str, Any]:
        if isinstance(value, dict) and "class_path" not in value:
            return {key: item for name, sub in value.items() for key, item in flatten(f"{prefix}{name}.", sub).items()}
        return {prefix.rstrip("."): value}

    return flatten("", yaml.safe_load(path.read_text()))


def name_run_after_model(config: Any) -> None:
    """Runs without a name of their own (flags alone: ``--cell lstm --bidirectional``) log under ``bilstm/``."""
    init = _logger_init_args(config)
    if init is not None and init.get("name") in (None, "lightning_logs"):  # TensorBoardLogger's default
        init["name"] = ("bi" if config.model.get("bidirectional") else "") + str(config.model.get("cell"))


def _logger_init_args(config: Any) -> Any:
    """The configured logger's ``init_args`` (a namespace to edit in place), or None for no or a bare logger."""
    logger = config.trainer.get("logger")
    return logger.get("init_args") if hasattr(logger, "get") else None


def require_visible_accelerator(accelerator: Any) -> None:
    """``--accelerator gpu`` (or ``cuda``) on a machine where torch sees no CUDA device: say so before building."""
    if str(accelerator).lower() not in ("gpu", "cuda") or torch.cuda.is_available():
        return
    build = f"torch {torch.__version__}" + ("" if torch.version.cuda else ", a CPU-only build")
    raise BadValue(
        f"--accelerator {accelerator}: no CUDA device is visible ({build}); use --accelerator cpu (or auto), "
        "or install a CUDA build of torch on a machine with an NVIDIA GPU"
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
            "writable --trainer.logger.init_args.save_dir (or --trainer.default_root_dir), or fix its permissions"
        ) from error
    return created


def resolve_last_checkpoint(config: Any) -> Path:
    """``--ckpt_path last``: the newest ``last.ckpt`` under the TensorBoard logger's ``<save_dir>/<name>/``.

    The logger's ``version`` is set to that run's, so the resumed run continues its logs and checkpoints.
    """
    init = _logger_init_args(config)
    if init is None or "save_dir" not in init:
        raise BadValue(
            "--ckpt_path last needs a TensorBoardLogger with save_dir and name in the config (as configs/*.yaml "
            "have); otherwise pass the checkpoint file itself"
        )
    runs = Path(init["save_dir"]) / (init.get("name") or "lightning_logs")
    candidates = sorted(runs.glob("*/checkpoints/last.ckpt"), key=lambda path: path.stat().st_mtime)
    if not candidates:
        raise MissingFile(f"--ckpt_path last: no {runs}/*/checkpoints/last.ckpt to resume from")
    last = candidates[-1]
    init["version"] = last.parent.parent.name
    config.ckpt_path = str(last)
    print(f"Resuming from {last}")
    return last


def log_hparams_with_results(trainer: Trainer, summary: dict[str, Any]) -> None:
    """TensorBoard's HParams view: this run's settings beside its best validation and its test results."""
    results = {"hp/best_val_acc": summary["best_val_acc"], "hp/epochs": summary["epochs"]}
    results |= {f"hp/{key}": value for key, value in summary["test"].items()}
    results = {key: value for key, value in results.items() if value is not None}
    settings = dict(trainer.lightning_module.hparams)
    if trainer.datamodule is not None:
        settings |= {f"data/{key}": value for key, value in trainer.datamodule.hparams.items()}
    plain = {key: value for key, value in settings.items() if isinstance(value, int | float | str | bool)}
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(plain, results)
            logger.save()


def write_run_report(trainer: Trainer, log_dir: Path, metrics: dict[str, float], best_checkpoint: str) -> Path:
    """``test_metrics.json`` (the test metrics) and ``run_summary.json`` (what a results table needs)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "test_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    timer = next((cb for cb in trainer.callbacks if isinstance(cb, EpochTimer)), None)
    seconds = timer.epoch_seconds if timer else []
    score = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
    summary: dict[str, Any] = {
        "best_checkpoint": best_checkpoint or None,
        "best_val_acc": float(score) if score is not None else None,
        "epochs": trainer.current_epoch,  # all completed epochs, a resumed run's earlier ones included
        "seconds_per_epoch": sum(seconds) / len(seconds) if seconds else None,  # epochs run by this process
        "parameters": sum(p.numel() for p in trainer.lightning_module.parameters()),
        "test": metrics,
    }
    (log_dir / "run_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log_hparams_with_results(trainer, summary)
    rounded = " - ".join(f"{key.removeprefix('test/')} {value:.4f}" for key, value in metrics.items())
    print(f"Test metrics: {rounded} (written to {log_dir / 'test_metrics.json'})", flush=True)
    return log_dir
