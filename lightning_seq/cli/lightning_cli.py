"""LightningCLI front door: subcommands ``fit`` (then a test of the best checkpoint), ``validate`` and ``test``.

``python scripts/fit.py ARGS`` is ``lightning-seq fit ARGS``; ``python scripts/test.py --ckpt PATH`` is
``lightning-seq test --ckpt_path PATH``, which rebuilds the model (LightningCLI reads its hyperparameters from the
checkpoint) and the data settings (from the checkpoint's datamodule hyperparameters) without a config.

Everything here is LightningCLI's own hooks and settings; the two methods it has no hook for say so.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import warnings
from argparse import ArgumentError
from pathlib import Path
from typing import Any

import torch
import yaml
from jsonargparse import Namespace
from lightning.pytorch import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from lightning_seq.cli.aliases import expand_short_flags, option, pop_option
from lightning_seq.cli.help import DESCRIPTIONS, short_help
from lightning_seq.cli.known_warnings import expected_library_warnings
from lightning_seq.cli.parsers import one_line
from lightning_seq.cli.run_setup import (
    ensure_writable,
    logger_configs,
    place_loggers,
    refuse_to_overwrite,
    require_supported_precision,
    require_text_configs,
    require_valid_devices,
    require_visible_accelerator,
    resolve_last_checkpoint,
)
from lightning_seq.constraints import plain_number
from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.data.text_datamodule import TextFilesDataModule
from lightning_seq.errors import BadCheckpoint, BadValue, UserError, report_user_errors
from lightning_seq.inference.loading import (
    FILE_SETTINGS,
    data_settings,
    datamodule_config,
    read_checkpoint,
    setup_checkpoint_data,
)
from lightning_seq.recipes.presets import SEED_RECIPE
from lightning_seq.reporting.run_summary import write_run_report
from lightning_seq.training.callbacks import EpochTimer, TestReport, TokenThroughput, TrainingCurves
from lightning_seq.training.checkpointing import AtomicCheckpointIO
from lightning_seq.training.console import EpochLog, EpochProgressBar, ModelTable, OneBasedCheckpoint, console_messages
from lightning_seq.training.distillation import check_teachers
from lightning_seq.training.module import SequenceClassifier, architecture_mismatch
from lightning_seq.training.pretraining import check_encoder
from lightning_seq.training.run_directory import run_directory
from lightning_seq.training.shutdown import SIGTERM_EXIT, end_stuck_process_on_sigterm

TENSORBOARD_LOGGER = "lightning.pytorch.loggers.TensorBoardLogger"
DEFAULT_DATAMODULE = f"{ReutersDataModule.__module__}.{ReutersDataModule.__qualname__}"
# Data settings that decide what the batches hold: a resumed fit must have the checkpoint's.
BATCH_SETTINGS = (
    "num_words", "skip_top", "maxlen", "truncating", "val_split", "val_seed", "seed", "batch_size",
    "train_file", "val_file", "min_count", "text_column", "label_column", "label_separator", "tokenizer",
)  # fmt: skip


class RunConfig(SaveConfigCallback):
    """``config.yaml`` in the run's directory, which for MLflow is not ``Trainer.log_dir`` (the whole store)."""

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        path = run_directory(trainer) / self.config_filename
        path.parent.mkdir(parents=True, exist_ok=True)
        self.parser.save(self.config, path, skip_unset=False, overwrite=self.overwrite, multifile=self.multifile)


class SeqCLI(LightningCLI):
    """Links the DataModule's vocabulary and classes into the model, configures checkpointing, and runs
    ``fit`` → test of the best checkpoint, ``validate`` and ``test`` through LightningCLI's own hooks."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        # No setting removes a subcommand. Here `predict` means topics for raw text (lightning_seq.cli.predict),
        # not predict_step over a datamodule split, so the console entry point routes that name there instead.
        return {name: skip for name, skip in LightningCLI.subcommands().items() if name != "predict"}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # Without --config, flags alone train the presets' recipe, not 1,000 epochs at lr 1e-3.
        parser.set_defaults(recipe_defaults(SEED_RECIPE))
        parser.link_arguments("data.vocab_size", "model.vocab_size", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.link_arguments("data.multi_label", "model.label_mode", label_mode, apply_on="instantiate")
        # Two plain ModelCheckpoints keep last.ckpt current: `checkpoint` after every epoch's validation (with the
        # best by val/acc), `step_checkpoint` every 50 optimizer steps inside epochs, so that a killed run loses
        # at most that many steps. The training loader's state (lightning_seq.data.batching) makes the resume exact.
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
        # The model table: Lightning's ModelSummary, deep enough to show embedding, encoder and head, without the
        # metric objects (ModelTable). Passing one is how Lightning's docs set the depth; enable_model_summary only
        # adds a default one (which would log that it skips itself). --summary.max_depth 0 hides the table.
        parser.add_lightning_class_args(ModelTable, "summary")
        parser.set_defaults({"summary.max_depth": 2, "trainer.enable_model_summary": False})
        parser.add_lightning_class_args(EpochTimer, "epoch_timer")
        parser.add_lightning_class_args(TokenThroughput, "throughput")  # samples/s and real tokens/s per step
        parser.add_lightning_class_args(EpochLog, "epoch_log")  # one line per epoch, as Keras prints
        parser.add_lightning_class_args(TestReport, "test_report")  # per-topic report + figures after the test
        parser.add_lightning_class_args(TrainingCurves, "training_curves")  # epochs.csv and the curves' PNG
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=True,
            help="fit: test the best checkpoint afterwards (scripts/tune.py's trials set false: they see validation "
            "only)",
        )

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        # LightningCLI has no hook between parsing and reading --ckpt_path's hyperparameters into the model's
        # settings: `last` must become a file, and a checkpoint of another model be refused, before that happens.
        super().parse_arguments(parser, args)
        if self.config.get("subcommand") != "fit":
            self._named_files = named_data_files(args)
            return
        config = self.config.fit
        place_loggers(config)
        if config.get("ckpt_path") == "last":
            resolve_last_checkpoint(config)
        if config.get("ckpt_path"):
            saved = read_checkpoint(config.ckpt_path)["hyper_parameters"]
            mismatch = architecture_mismatch(saved, config.model)
            if mismatch:
                raise BadCheckpoint(mismatch)
            check_batch_settings(data_settings(config.ckpt_path), config.data.init_args)
        if config.model.get("encoder_checkpoint"):  # before the run's directory is written
            check_encoder(config.model.encoder_checkpoint, config.model)
        require_unused_parameter_detection(config.trainer.get("strategy"), config.model.get("unfreeze_every"))

    @property
    def run_config(self) -> Any:
        """The running subcommand's part of the config (``config.fit``, ``config.test``, ...)."""
        return self.config[self.config.subcommand]

    def before_instantiate_classes(self) -> None:
        config = self.run_config
        for key, value in config.items():  # restricted numbers (PositiveInt, ...) -> plain, for checkpoints
            if plain_number(value) is not value:
                config[key] = plain_number(value)
        trainer = config.trainer
        require_visible_accelerator(trainer.get("accelerator"))
        require_valid_devices(trainer.get("accelerator"), trainer.get("devices"))
        require_supported_precision(trainer.get("accelerator"), trainer.get("precision"))
        if config.get("weights_only") is None:
            config.weights_only = True  # checkpoints hold tensors and plain values: loading never unpickles code
        if trainer.get("enable_progress_bar") is None:  # a terminal gets a bar; a pipe or a log file gets the lines
            trainer.enable_progress_bar = sys.stderr.isatty()
        if trainer.get("plugins") is None:
            trainer.plugins = [class_config(AtomicCheckpointIO)]  # checkpoint files complete or absent
        added = [EpochProgressBar] if trainer.enable_progress_bar else []
        added += [LearningRateMonitor] if logger_configs(config) and self.subcommand == "fit" else []
        trainer.callbacks = with_callbacks(trainer.get("callbacks"), added)

    def fit(self, **kwargs: Any) -> None:
        # The subcommand's method (LightningCLI calls `self.fit` when it exists): a run that failed before writing
        # anything leaves no empty version_N behind.
        try:
            self.trainer.fit(**kwargs)
        except BaseException:
            created = self._created
            if created is not None and created.is_dir() and not any(created.iterdir()):
                created.rmdir()
            raise

    def before_fit(self) -> None:
        self._created = None
        if isinstance(self.model, SequenceClassifier):
            self.model.resuming = bool(self.config_init.fit.ckpt_path)
        hp = self.model.hparams
        if hp.get("teachers"):  # refused before the run's directory exists; the model checks again when it loads them
            check_teachers(hp.teachers, hp.vocab_size, hp.num_classes, self.datamodule)
        if isinstance(self.datamodule, TextFilesDataModule):  # a bad row in any file: refused before the run exists
            self.datamodule.read_every_file(test=self.config.fit.test_after_fit)
        if self.trainer.is_global_zero:  # other DDP ranks start once rank zero has begun writing
            directory = run_directory(self.trainer)
            refuse_to_overwrite(directory, self.config_init.fit.ckpt_path)
            self._created = ensure_writable(directory)

    def after_fit(self) -> None:
        """Test the best checkpoint; write ``test_metrics.json`` and ``run_summary.json`` to the run's directory."""
        trainer = self.trainer
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        self.metrics = {}
        if self.config.fit.test_after_fit:
            if not best:
                warnings.warn(
                    "No best checkpoint was recorded (was validation skipped?); testing the final weights.",
                    stacklevel=2,
                )
            self.metrics = trainer.test(
                self.model, datamodule=self.datamodule, ckpt_path=best or None, weights_only=True, verbose=False
            )[0]
        if trainer.is_global_zero:
            write_run_report(trainer, run_directory(trainer), self.metrics, best)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # Lightning leaves the process group alive; its gloo threads can abort the interpreter at exit
            # ("terminate called without an active exception") unless the group is destroyed first.
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()

    def validate(self, **kwargs: Any) -> None:
        # The subcommand's method: keeps the metrics, printed rounded below instead of Lightning's table.
        self.metrics = self.trainer.validate(**{**kwargs, "verbose": False})[0]

    def after_validate(self) -> None:
        self._write_metrics("validation_metrics.json")

    def before_validate(self) -> None:
        self._read_checkpoint_data("validate")

    def before_test(self) -> None:
        self._read_checkpoint_data("test")

    def _read_checkpoint_data(self, stage: str) -> None:
        """Read the split now, before the Trainer does: a data file the checkpoint chose (not the user) is read
        only if it is a regular file, and a message about it never quotes what it holds."""
        ckpt_path = self.run_config.get("ckpt_path")
        if ckpt_path and self.datamodule is not None:
            setup_checkpoint_data(self.datamodule, ckpt_path, stage, getattr(self, "_named_files", ()))

    def test(self, **kwargs: Any) -> None:
        self.metrics = self.trainer.test(**{**kwargs, "verbose": False})[0]

    def after_test(self) -> None:
        report = next((cb.report for cb in self.trainer.callbacks if isinstance(cb, TestReport)), None)
        if report is not None and self.trainer.is_global_zero:
            table = report.to_markdown().splitlines()
            print("\n".join([*table[:14], "| ... |", *table[-2:]]))
            micro = f"micro F1 {report.micro.f1:.4f}, " if report.micro else ""
            print(f"{micro}macro F1 {report.macro.f1:.4f}, weighted F1 {report.weighted.f1:.4f}")
        self._write_metrics("test_metrics.json")

    def _write_metrics(self, name: str) -> None:
        if not self.trainer.is_global_zero:
            return
        directory = run_directory(self.trainer)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(json.dumps(self.metrics, indent=2) + "\n")
        print(f"{rounded(self.metrics)} (written to {directory / name})", flush=True)


def label_mode(multi_label: bool) -> str:
    return "multi" if multi_label else "single"


def class_config(cls: type, **init_args: Any) -> Namespace:
    return Namespace(class_path=f"{cls.__module__}.{cls.__qualname__}", init_args=Namespace(**init_args))


def with_callbacks(configured: Any, added: list[type[Callback]]) -> list[Any]:
    """The configured trainer callbacks plus one of each ``added`` class that is not configured already."""
    callbacks = list(configured) if isinstance(configured, list) else [] if configured is None else [configured]
    present = {str(getattr(item, "class_path", "")) for item in callbacks}
    for cls in added:
        kind = ProgressBar if issubclass(cls, ProgressBar) else cls  # the user's own progress bar wins
        if not any(_is_subclass(path, kind) for path in present):
            callbacks.append(class_config(cls))
    return callbacks


def _is_subclass(class_path: str, kind: type) -> bool:
    module, _, name = class_path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:  # the parser resolved every class path already; this is not one
        return False
    return isinstance(found, type) and issubclass(found, kind)


def require_unused_parameter_detection(strategy: Any, unfreeze_every: int | None) -> None:
    """Gradual unfreezing leaves the frozen layers without gradients, which DDP refuses mid-run unless told."""
    if not unfreeze_every or not isinstance(strategy, str) or not strategy.startswith("ddp"):
        return
    if "find_unused_parameters_true" not in strategy:
        raise BadValue(
            f"model.unfreeze_every {unfreeze_every} with --strategy {strategy}: DDP stops at the first step whose "
            f"frozen layers get no gradient; use --strategy {strategy}_find_unused_parameters_true"
        )


def named_data_files(args: Any) -> tuple[str, ...]:
    """The data file settings the command line itself names (``--data.test_file FILE``): the user's files."""
    flags = [str(arg).partition("=")[0] for arg in args] if isinstance(args, list | tuple) else []
    return tuple(key for key in FILE_SETTINGS if f"--data.{key}" in flags or f"--data.init_args.{key}" in flags)


def check_batch_settings(saved: dict[str, Any], configured: Any) -> None:
    """A resumed fit must draw the same batches: refuse settings that change them instead of mixing two runs."""
    differ = [key for key in BATCH_SETTINGS if key in saved and plain_number(configured.get(key)) != saved[key]]
    if differ:
        theirs = ", ".join(f"data.{key}={saved[key]!r}" for key in differ)
        ours = ", ".join(f"data.{key}={plain_number(configured.get(key))!r}" for key in differ)
        raise BadCheckpoint(
            f"the checkpoint was trained with {theirs}, but this run has {ours}: resuming would continue on other "
            "batches; resume with the checkpoint's data settings (its run's config.yaml), or start a new run"
        )


@report_user_errors
def main(args: list[str] | None = None, command: str = "fit") -> dict[str, float]:
    """``scripts/fit.py``, ``scripts/test.py`` and ``lightning-seq fit|validate|test``: bad settings in one line.

    ``args`` (default: the command line) may start with a subcommand; otherwise ``command`` runs. Returns the
    metrics: a fit's test of its best checkpoint, or the validate/test run's own. A stop request (SIGTERM) ends
    the run even when a rank is stuck, with exit status 143.
    """
    end_stuck_process_on_sigterm()
    argv = list(sys.argv[1:] if args is None else args)
    if _checkpoint_count(argv, command) > 1:
        from lightning_seq.cli import ensemble_test  # it builds on this module

        return ensemble_test.main(argv[1:] if argv[0] == "test" else argv)
    try:
        return run(args, command).metrics
    except SIGTERMException:  # Lightning's graceful stop between batches
        if rank_zero_only.rank == 0:
            print("Stopped by SIGTERM; continue with the same command and --ckpt_path last", file=sys.stderr)
        raise SystemExit(SIGTERM_EXIT) from None


def _checkpoint_count(argv: list[str], command: str) -> int:
    """How many checkpoints a ``test`` command line names (``--ckpt`` is an alias of ``--ckpt_path``)."""
    subcommand = argv[0] if argv and argv[0] in SeqCLI.subcommands() else command
    if subcommand != "test":
        return 0
    return sum(arg.partition("=")[0] == "--ckpt_path" for arg in expand_short_flags(argv, subcommand))


def fit_main(args: list[str] | None = None) -> dict[str, float]:
    """Fit, test the best checkpoint, write ``test_metrics.json`` to the run's directory; returns the test metrics.

    Raises :class:`~lightning_seq.errors.UserError` for bad settings and files (:func:`main` prints them).
    """
    return run(args, "fit").metrics


def run(args: list[str] | None = None, command: str = "fit", callbacks: list[Callback] | None = None) -> SeqCLI:
    """Run one LightningCLI subcommand; ``command`` unless ``args`` starts with one (as DDP children's do).

    ``callbacks`` join the configured ones (e.g. the tuner's pruning callback, which holds a live trial).
    """
    subcommand, argv = _command_line(args, command)
    with expected_library_warnings(), console_messages():
        return build_cli(SeqCLI, subcommand, argv, callbacks)


def _command_line(args: list[str] | None, command: str) -> tuple[str, list[str]]:
    argv = list(sys.argv[1:] if args is None else args)
    subcommand = argv.pop(0) if argv and argv[0] in SeqCLI.subcommands() else command
    argv = expand_short_flags(argv, subcommand)
    if "-h" in argv or "--help" in argv:
        print(short_help(subcommand))
        raise SystemExit(0)
    argv = ["--help" if arg == "--help_all" else arg for arg in argv]
    require_text_configs(argv)
    return subcommand, checkpoint_defaults(argv, subcommand)


def build_cli(
    cli_class: type[LightningCLI],
    subcommand: str,
    argv: list[str],
    callbacks: list[Callback] | None,
    model_class: type[LightningModule] = SequenceClassifier,
    description: str | None = None,
) -> Any:
    """The CLI, its parsers raising typed errors (one line each) instead of printing usage and exiting."""
    try:
        return cli_class(
            model_class,
            LightningDataModule,  # any DataModule: --data TextFilesDataModule; ReutersDataModule by default
            subclass_mode_data=True,
            save_config_callback=RunConfig,
            save_config_kwargs={"overwrite": True, "save_to_log_dir": False},  # refuse_to_overwrite guards runs
            auto_configure_optimizers=False,  # the model takes its optimizer as an argument (model.optimizer)
            seed_everything_default=42,
            parser_kwargs={
                "exit_on_error": False,
                subcommand: {"description": description or DESCRIPTIONS[subcommand], "exit_on_error": False},
            },
            args=[subcommand, *argv],
            trainer_defaults={"callbacks": callbacks} if callbacks else None,
        )
    except ArgumentError as error:
        raise BadValue(f"{data_setting_error(one_line(str(error)))} (see --help)") from None
    except MisconfigurationException as error:  # Lightning's own type for a setting it cannot use
        raise BadValue(one_line(str(error))) from None
    except ValueError as error:  # jsonargparse wraps what a class's __init__ refused (e.g. --data.encoding)
        refused = _user_error_within(error)
        if refused is None:
            raise
        raise refused from None


def _user_error_within(error: BaseException) -> UserError | None:
    """The :class:`UserError` a constructor raised, found in the chain of exceptions jsonargparse wrapped it in."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UserError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


# LightningCLI adds `data` with a None default, so jsonargparse reports a DataModule argument's error inside the
# Optional union's ("Does not validate against any of the Union subtypes ... - Expected a <class 'NoneType'> ...").
_DATA_UNION_ERROR = re.compile(
    r"""Parser key "data": Does not validate against any of the Union subtypes.*?"""
    r"""Problem with given class_path '([^']+)': (?:Parser key "([^"]+)": )?(.*?) - Expected a <class 'NoneType'>.*"""
)


def data_setting_error(message: str) -> str:
    """The DataModule argument's own error, as ``Parser key "data.maxlen": ...`` (other messages unchanged)."""
    match = _DATA_UNION_ERROR.fullmatch(message)
    if match is None:
        return message
    class_path, key, reason = match.groups()
    return f'Parser key "data{"." + key if key else ""}": {reason} ({class_path.rpartition(".")[2]})'


class _Parsed(Exception):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__("parsed")
        self.config = config


class _ParseOnly(SeqCLI):
    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        # LightningCLI has no parse-only mode: stop once the arguments are parsed, before seeding or building anything.
        LightningCLI.parse_arguments(self, parser, args)
        raise _Parsed(yaml.safe_load(self.parser.dump(self.config, skip_link_targets=False, skip_unset=False))["fit"])


def resolved_config(args: list[str]) -> dict[str, Any]:
    """The fit configuration ``args`` resolve to, without building anything.

    Raises :class:`~lightning_seq.errors.BadValue` with the parser's one-line message for an unknown key or a
    value out of range.
    """
    subcommand, argv = _command_line(["fit", *args], "fit")
    try:
        with expected_library_warnings():
            build_cli(_ParseOnly, subcommand, argv, None)
    except _Parsed as parsed:
        return parsed.config
    raise AssertionError("the parse-only CLI returned without its configuration")


def checkpoint_defaults(argv: list[str], subcommand: str) -> list[str]:
    """Read ``--ckpt_path`` first (one line for a missing or corrupt file); validate/test get its data settings.

    LightningCLI rebuilds the model from the checkpoint's hyperparameters; the data settings (vocabulary, maxlen,
    split) and a logger writing to ``<run>/evaluation/<checkpoint name>/`` (or ``--out``) come first as a config
    of their own, so that ``--config`` and flags given after them still win.
    """
    argv, out = pop_option(argv, "--out")
    ckpt_path = option(argv, "--ckpt_path")
    if out is not None and (subcommand == "fit" or not ckpt_path):
        raise BadValue(f"--out {out}: only `test` or `validate` with --ckpt_path writes there")
    if not ckpt_path or (subcommand == "fit" and ckpt_path == "last"):
        return argv
    read_checkpoint(ckpt_path)
    if subcommand == "fit":
        return argv
    out = Path(out) if out else default_out(Path(ckpt_path))
    settings = {"data": datamodule_config(ckpt_path), "trainer": evaluation_trainer(out)}
    return ["--config", yaml.safe_dump(settings), *argv]


def evaluation_trainer(out: Path) -> dict[str, Any]:
    """One device (each test item counted once), no progress bar (a second or two), a TensorBoard logger
    writing to ``out`` itself."""
    logger_init = {"save_dir": str(out), "name": "", "version": "", "default_hp_metric": False}
    logger = {"class_path": TENSORBOARD_LOGGER, "init_args": logger_init}
    return {"devices": 1, "enable_progress_bar": False, "logger": logger}


def default_out(checkpoint: Path) -> Path:
    """``<run>/evaluation/<checkpoint stem>`` for ``<run>/checkpoints/x.ckpt``, else beside the file."""
    run_dir = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
    return run_dir / "evaluation" / checkpoint.stem


def rounded(metrics: dict[str, float]) -> str:
    """``test acc 0.7391 - test f1_macro 0.4167``: metrics at 4 decimals, for the console."""
    return " - ".join(f"{key.replace('/', ' ')} {value:.4f}" for key, value in metrics.items())


def recipe_defaults(path: Path) -> dict[str, Any]:
    """A recipe YAML as parser defaults: ``{"data.num_words": 10000, "model.optimizer": {class_path: ...}, ...}``.

    (Given as ``default_config_files`` instead, its optimizer would not merge with a config naming another one.)
    """

    def flatten(prefix: str, value: Any) -> dict[str, Any]:
        if isinstance(value, dict) and "class_path" not in value:
            return {key: item for name, sub in value.items() for key, item in flatten(f"{prefix}{name}.", sub).items()}
        return {prefix.rstrip("."): value}

    recipe = yaml.safe_load(path.read_text())
    data = recipe.pop("data", {})
    # `data` is a subclass choice (--data TextFilesDataModule): its defaults are the default class's arguments
    return {**flatten("", recipe), "data": {"class_path": DEFAULT_DATAMODULE, "init_args": data}}
