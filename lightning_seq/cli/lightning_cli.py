"""LightningCLI front door: subcommands ``fit`` (then a test of the best checkpoint), ``validate`` and ``test``.

``python scripts/fit.py ARGS`` is ``lightning-seq fit ARGS``; ``python scripts/test.py --ckpt PATH`` is
``lightning-seq test --ckpt_path PATH``, which rebuilds the model (LightningCLI reads its hyperparameters from the
checkpoint) and the data settings (from the checkpoint's datamodule hyperparameters) without a config.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
import tempfile
import warnings
from copy import deepcopy
from pathlib import Path
from typing import Any, NoReturn

import torch
import yaml
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lightning_seq.constraints import plain_number
from lightning_seq.data.datamodule import ReutersDataModule
from lightning_seq.errors import USAGE_ERROR, BadValue, MissingFile, NotWritable, report_user_errors
from lightning_seq.inference.loading import load_datamodule_settings, read_checkpoint
from lightning_seq.recipes.presets import SEED_RECIPE
from lightning_seq.training.callbacks import EpochTimer, TestReport, TrainingCurves
from lightning_seq.training.checkpointing import AtomicCheckpointIO
from lightning_seq.training.console import EpochLog, EpochProgressBar, ModelTable, OneBasedCheckpoint, quiet_start
from lightning_seq.training.module import SequenceClassifier
from lightning_seq.training.shutdown import SIGTERM_EXIT, end_stuck_process_on_sigterm

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
# scripts/test.py's names: `--ckpt PATH` is the test's --ckpt_path (`--out DIR` is read by checkpoint_defaults).
EVALUATION_FLAGS = {"--ckpt": "--ckpt_path"}
EVALUATED_WITH = ("--accelerator", "--precision", "--batch_size", "--data_dir")  # the short flags that matter there
TENSORBOARD_LOGGER = "lightning.pytorch.loggers.TensorBoardLogger"

DESCRIPTIONS = {
    "fit": "Train a recurrent classifier on Reuters newswire topics, then test its best checkpoint.",
    "validate": "Validate a checkpoint on the held-out 20 % of Keras's training split.",
    "test": "Test a checkpoint on Keras's test split; write its per-topic report and figures.",
}
EXAMPLES = {
    "fit": "python scripts/fit.py --config configs/gru.yaml --cell lstm --bidirectional --max_epochs 3",
    "validate": "lightning-seq validate --ckpt_path lightning_logs/gru/version_0/checkpoints/last.ckpt",
    "test": "python scripts/test.py --ckpt lightning_logs/gru/version_0/checkpoints/last.ckpt",
}

# The settings people change most after the short flags, for the short --help.
COMMON_KEYS = {
    "fit": {
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
    },
    "evaluate": {
        "--ckpt_path PATH (--ckpt)": "a checkpoint scripts/fit.py wrote: model and data settings come from it",
        "--out DIR": "where the report, figures and metrics go (default <run>/evaluation/<checkpoint name>/)",
        "--config FILE": "settings to use instead of the checkpoint's (e.g. another data split)",
    },
}
COMMON_FLAGS = {
    "--print_config": "print the full configuration and exit",
    "--help_all": "every option (Trainer, logger, callbacks: several hundred lines)",
}


def short_help(subcommand: str = "fit") -> str:
    """``--help``: the short flags and the common keys, in a screen; ``--help_all`` has everything."""
    common = {**COMMON_KEYS["fit" if subcommand == "fit" else "evaluate"], **COMMON_FLAGS}
    flags = SHORT_FLAGS if subcommand == "fit" else {**EVALUATION_FLAGS, **{k: SHORT_FLAGS[k] for k in EVALUATED_WITH}}
    width = max(map(len, [*flags, *common])) + 2
    door = "python scripts/fit.py" if subcommand == "fit" else f"lightning-seq {subcommand}"
    lines = [
        f"usage: {door} [--config FILE ...] [--short_flag VALUE ...] [--section.key VALUE ...]",
        "",
        DESCRIPTIONS[subcommand],
        "",
        "short flags (each expands in place to its full key):",
        *(f"  {short:<{width}}= {full}" for short, full in flags.items()),
        "",
        "common keys:",
        *(f"  {key:<{width}}{what}" for key, what in common.items()),
        "",
        f"Example: {EXAMPLES[subcommand]}",
        "Subcommands: lightning-seq fit | validate | test | predict | export | tune | compare | benchmark",
    ]
    return "\n".join(lines)


def expand_short_flags(args: list[str], subcommand: str = "fit") -> list[str]:
    """Rewrite ``--cell lstm`` to ``--model.cell lstm`` (and so on), keeping the order of ``args``."""
    aliases = SHORT_FLAGS if subcommand == "fit" else {**SHORT_FLAGS, **EVALUATION_FLAGS}
    expanded = []
    for position, arg in enumerate(args):
        name, equals, value = arg.partition("=")
        if name not in aliases:
            expanded.append(arg)
            continue
        expanded.append(aliases[name] + equals + value)
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
    """Links the DataModule's vocabulary and classes into the model, configures checkpointing, and runs
    ``fit`` → test of the best checkpoint, ``validate`` and ``test`` through LightningCLI's own hooks."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        # LightningCLI's `predict` runs predict_step over a datamodule split; here `predict` means topics for
        # raw text (lightning_seq.inference.predictor), so the console entry point routes that name there instead.
        return {name: skip for name, skip in LightningCLI.subcommands().items() if name != "predict"}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # Without --config, flags alone train the presets' recipe, not 1,000 epochs at lr 1e-3.
        parser.set_defaults(recipe_defaults(SEED_RECIPE))
        parser.link_arguments("data.vocab_size", "model.vocab_size", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
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
        parser.add_lightning_class_args(ModelTable, "summary")
        parser.set_defaults({"summary.max_depth": 2})  # embedding, encoder and head with their parameter counts
        parser.add_lightning_class_args(EpochTimer, "epoch_timer")
        parser.add_lightning_class_args(EpochLog, "epoch_log")  # one line per epoch, as Keras prints
        parser.add_lightning_class_args(LearningRateMonitor, "lr_monitor")  # the lr curve in TensorBoard
        parser.add_lightning_class_args(TestReport, "test_report")  # per-topic report + figures after the test
        parser.add_lightning_class_args(TrainingCurves, "training_curves")  # PNG next to the checkpoints
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=True,
            help="fit: test the best checkpoint afterwards (scripts/tune.py's trials set false: they see validation "
            "only)",
        )

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        # Given a checkpoint file, LightningCLI next replaces the model's settings by the checkpoint's. That is
        # what validate/test want; a resumed fit keeps the settings it was given, and a checkpoint that does not
        # fit them is refused by name (SequenceClassifier.check_checkpoint) instead of silently winning.
        self._fit_model_as_given = deepcopy(self.config.fit.model) if self.config.subcommand == "fit" else None

    @property
    def run_config(self) -> Any:
        """The running subcommand's part of the config (``config.fit``, ``config.test``, ...)."""
        return self.config[self.config.subcommand]

    def before_instantiate_classes(self) -> None:
        config = self.run_config
        if self._fit_model_as_given is not None:
            config.model = self._fit_model_as_given
        for key, value in config.items():  # restricted numbers (PositiveInt, ...) -> plain, for checkpoints
            if plain_number(value) is not value:
                config[key] = plain_number(value)
        require_visible_accelerator(config.trainer.get("accelerator"))
        name_run_after_model(config)
        if config.get("ckpt_path") == "last" and self.subcommand == "fit":
            resolve_last_checkpoint(config)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        trainer = super().instantiate_trainer(**kwargs)
        for position, callback in enumerate(trainer.callbacks):
            if type(callback) is TQDMProgressBar:  # Lightning's default bar, not one the user configured
                trainer.callbacks[position] = EpochProgressBar(callback.refresh_rate)
        if self.subcommand != "fit":  # checkpoints are written while fitting; testing one would reload their state
            trainer.callbacks = [cb for cb in trainer.callbacks if not isinstance(cb, ModelCheckpoint)]
        if not trainer.loggers:  # --trainer.logger false: nothing to draw the learning rate in
            trainer.callbacks = [cb for cb in trainer.callbacks if not isinstance(cb, LearningRateMonitor)]
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # Lightning's default, not the user's own
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        if str(trainer.precision) != str(self.run_config.trainer.precision):
            # e.g. 16-mixed on a CPU runs bf16-mixed (Lightning says so): config.yaml records what ran
            self.run_config.trainer.precision = trainer.precision
        return trainer

    def _default_weights_only(self) -> None:
        # Checkpoints hold tensors and plain values only: loading one never unpickles arbitrary objects.
        if self.config_init[self.subcommand].get("weights_only") is None:
            self.config_init[self.subcommand]["weights_only"] = True

    def before_fit(self) -> None:
        self._default_weights_only()
        ckpt_path = self.config_init.fit.ckpt_path
        if ckpt_path:  # refuse an unusable checkpoint before the run's directory is touched (config.yaml included)
            self.model.check_checkpoint(read_checkpoint(ckpt_path))
        self._created = None
        if self.trainer.is_global_zero:  # other DDP ranks would pick their own version number before the group exists
            self._created = ensure_writable(Path(self.trainer.log_dir or self.trainer.default_root_dir))

    def fit(self, **kwargs: Any) -> None:
        try:
            self.trainer.fit(**kwargs)
        except BaseException:
            created = self._created
            if created is not None and created.is_dir() and not any(created.iterdir()):
                created.rmdir()  # a run that failed before writing anything leaves no empty version_N behind
            raise

    def after_fit(self) -> None:
        """Test the best checkpoint; write ``test_metrics.json`` and ``run_summary.json`` to the run's log dir."""
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
        log_dir = Path(trainer.log_dir or trainer.default_root_dir)  # every rank: under DDP log_dir is a broadcast
        if trainer.is_global_zero:
            write_run_report(trainer, log_dir, self.metrics, best)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # Lightning leaves the process group alive; its gloo threads can abort the interpreter at exit
            # ("terminate called without an active exception") unless the group is destroyed first.
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()

    def before_validate(self) -> None:
        self._default_weights_only()

    def validate(self, **kwargs: Any) -> None:
        self.metrics = self.trainer.validate(**{**kwargs, "verbose": False})[0]  # printed rounded below

    def after_validate(self) -> None:
        self._write_metrics("validation_metrics.json")

    def before_test(self) -> None:
        self._default_weights_only()

    def test(self, **kwargs: Any) -> None:
        self.metrics = self.trainer.test(**{**kwargs, "verbose": False})[0]  # printed rounded below

    def after_test(self) -> None:
        report = next((cb.report for cb in self.trainer.callbacks if isinstance(cb, TestReport)), None)
        if report is not None and self.trainer.is_global_zero:
            table = report.to_markdown().splitlines()
            print("\n".join([*table[:14], "| ... |", *table[-2:]]))
            print(f"macro F1 {report.macro.f1:.4f}, weighted F1 {report.weighted.f1:.4f}")
        self._write_metrics("test_metrics.json")

    def _write_metrics(self, name: str) -> None:
        log_dir = Path(self.trainer.log_dir or self.trainer.default_root_dir)
        if not self.trainer.is_global_zero:
            return
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / name).write_text(json.dumps(self.metrics, indent=2) + "\n")
        print(f"{rounded(self.metrics)} (written to {log_dir / name}; tensorboard --logdir {log_dir})", flush=True)


@report_user_errors
def main(args: list[str] | None = None, command: str = "fit") -> dict[str, float]:
    """``scripts/fit.py``, ``scripts/test.py`` and ``lightning-seq fit|validate|test``: bad settings in one line.

    ``args`` (default: the command line) may start with a subcommand; otherwise ``command`` runs. Returns the
    metrics: a fit's test of its best checkpoint, or the validate/test run's own. A stop request (SIGTERM) ends
    the run even when a rank is stuck, with exit status 143.
    """
    end_stuck_process_on_sigterm()
    try:
        return run(args, command).metrics
    except SIGTERMException:  # Lightning's graceful stop between batches
        print("Stopped by SIGTERM; continue with the same command and --ckpt_path last", file=sys.stderr)
        raise SystemExit(SIGTERM_EXIT) from None


def fit_main(args: list[str] | None = None) -> dict[str, float]:
    """Fit, test the best checkpoint, write ``test_metrics.json`` to the run's log dir; returns the test metrics.

    Raises :class:`~lightning_seq.errors.UserError` for bad settings and files (:func:`main` prints them).
    """
    return run(args, "fit").metrics


def run(args: list[str] | None = None, command: str = "fit", callbacks: list[Callback] | None = None) -> SeqCLI:
    """Run one LightningCLI subcommand; ``command`` unless ``args`` starts with one (as DDP children's do).

    ``callbacks`` join the configured ones (e.g. the tuner's pruning callback, which holds a live trial).
    """
    warnings.filterwarnings("ignore", ".*does not have many workers.*")  # the data is an in-memory tensor
    quiet_start()
    # The module logs epoch values that torchmetrics already gathered from every rank; Lightning cannot know.
    warnings.filterwarnings("ignore", ".*when logging on epoch level in distributed setting.*")
    # The front doors hand LightningCLI their own command line, short flags expanded, as `args`.
    warnings.filterwarnings("ignore", ".*not recommended to provide both args and command line arguments.*")
    # Testing a checkpoint needs none of the checkpoint callbacks whose state it carries.
    warnings.filterwarnings("ignore", ".*callbacks used to create the checkpoint need to be provided.*")
    argv = list(sys.argv[1:] if args is None else args)
    subcommand = argv.pop(0) if argv and argv[0] in SeqCLI.subcommands() else command
    argv = expand_short_flags(argv, subcommand)
    if "-h" in argv or "--help" in argv:
        print(short_help(subcommand))
        raise SystemExit(0)
    argv = ["--help" if arg == "--help_all" else arg for arg in argv]
    argv = checkpoint_defaults(argv, subcommand)
    return SeqCLI(
        SequenceClassifier,
        ReutersDataModule,
        auto_configure_optimizers=False,  # the model takes its optimizer as an argument (model.optimizer)
        seed_everything_default=42,
        parser_class=OneLineErrorParser,
        parser_kwargs={subcommand: {"description": DESCRIPTIONS[subcommand]}},
        args=[subcommand, *argv],
        trainer_defaults={"callbacks": callbacks} if callbacks else None,
        save_config_kwargs={"overwrite": True},  # a resumed run writes its config into the same directory
    )


def resolved_config(args: list[str]) -> dict[str, Any]:
    """The fit configuration ``args`` resolve to (LightningCLI's ``--print_config``), without building anything.

    Raises :class:`~lightning_seq.errors.BadValue` with the parser's one-line message for an unknown key or a
    value out of range.
    """
    printed, errors = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
            run([*args, "--print_config"], "fit")
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            lines = [line for line in errors.getvalue().splitlines() if line.startswith("error: ")] or ["?"]
            raise BadValue(lines[-1].removeprefix("error: ").removesuffix(" (see --help)")) from None
    return yaml.safe_load(printed.getvalue())


def checkpoint_defaults(argv: list[str], subcommand: str) -> list[str]:
    """Read ``--ckpt_path`` first (one line for a missing or corrupt file); validate/test get its data settings.

    LightningCLI rebuilds the model from the checkpoint's hyperparameters; the data settings (vocabulary, maxlen,
    split) and a logger writing to ``<run>/evaluation/<checkpoint name>/`` (or ``--out``) come first as a config
    of their own, so that ``--config`` and flags given after them still win.
    """
    argv, out = pop_option(argv, "--out")
    ckpt_path = _option(argv, "--ckpt_path")
    if out is not None and (subcommand == "fit" or not ckpt_path):
        raise BadValue(f"--out {out}: only `test` or `validate` with --ckpt_path writes there")
    if not ckpt_path or (subcommand == "fit" and ckpt_path == "last"):
        return argv
    read_checkpoint(ckpt_path)
    if subcommand == "fit":
        return argv
    out = Path(out) if out else default_out(Path(ckpt_path))
    settings = {"data": load_datamodule_settings(ckpt_path), "trainer": evaluation_trainer(out)}
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


def _option(argv: list[str], name: str) -> str | None:
    """The last value given to ``name`` (``--name VALUE`` or ``--name=VALUE``), else None."""
    value = None
    for position, arg in enumerate(argv):
        if arg == name and position + 1 < len(argv):
            value = argv[position + 1]
        elif arg.startswith(name + "="):
            value = arg.partition("=")[2]
    return value


def pop_option(argv: list[str], name: str) -> tuple[list[str], str | None]:
    """``argv`` without ``name`` and its value (either spelling), and that value (the last one given)."""
    value = _option(argv, name)
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            kept.append(arg)
    return kept, value


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
    results |= {f"hp/{key}": value for key, value in (summary["test"] or {}).items()}
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
    if metrics:
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
        "test": metrics or None,  # None: --test_after_fit false
    }
    (log_dir / "run_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log_hparams_with_results(trainer, summary)
    if not metrics:
        return log_dir
    rounded = " - ".join(f"{key.removeprefix('test/')} {value:.4f}" for key, value in metrics.items())
    print(f"Test metrics: {rounded} (written to {log_dir / 'test_metrics.json'})", flush=True)
    return log_dir
