"""Hyperparameter search with Optuna, every trial a real fit through the fit front door (``scripts/tune.py``).

    python scripts/tune.py --config configs/gru.yaml --space SPACE.yaml --trials 30
    python scripts/tune.py --config configs/gru.yaml --space configs/search/fast.yaml --trials 30 \
        --objectives accuracy+seconds                          # a Pareto front: accuracy against seconds
    python scripts/tune.py ... --trainer.max_epochs 8          # any other flag is a fit override for every trial

Each trial runs ``scripts/fit.py``'s ``fit`` with the base config, the overrides and the trial's settings,
logs to ``<out>/<study>/trials/trial_NNN/`` (TensorBoard events, ``config.yaml``, checkpoints) and is scored
on validation accuracy only (its best epoch's ``val/acc``, the checkpoint the fit keeps); the test split is
never run. ``val/acc`` is reported to Optuna every epoch, so the pruner stops poor trials early. A trial that
fails (a NaN loss, out of memory, a combination the model refuses) is recorded as failed with its reason.

The study lives in SQLite (``<out>/<study>/study.db``) unless ``--storage`` names another database: run the
same command again and it continues (finished trials kept; a trial whose process died is marked failed once
its heartbeat stops, and run again). ``--workers N`` runs N processes on one study, the cores split between
them; on several machines, run the command on each with the same ``--storage`` server URL (Optuna's RDB).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState
from optuna_integration import PyTorchLightningPruningCallback
from sqlalchemy.exc import SQLAlchemyError

from lightning_seq.cli.aliases import pop_option
from lightning_seq.cli.lightning_cli import run
from lightning_seq.errors import USAGE_ERROR, BadValue
from lightning_seq.training.shutdown import SIGTERM_EXIT
from lightning_seq.tune.report import EXPERIMENTAL
from lightning_seq.tune.search_space import as_args, check_space, load_space, suggest

OBJECTIVES = {"accuracy": ("maximize",), "accuracy+seconds": ("maximize", "minimize")}
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)  # what --trials counts; failed trials are retried or reported
MONITOR = "val/acc"
METRIC_NAMES = {"accuracy": "val_acc", "seconds": "fit_seconds"}  # what optuna-dashboard calls the objectives


class EpochPruning(PyTorchLightningPruningCallback):
    """optuna-integration's pruning callback, counting the epochs it reported (for the trials table)."""

    def __init__(self, trial: optuna.Trial, monitor: str) -> None:
        super().__init__(trial, monitor)
        self.epochs_reported = 0

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            self.epochs_reported += 1
        super().on_validation_end(trainer, pl_module)


class StopAfterFailures:
    """Stop this process's trials after ``limit`` failures in a row: the space or the base config is broken."""

    def __init__(self, limit: int = 5) -> None:
        self.limit, self.in_a_row = limit, 0

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.in_a_row = self.in_a_row + 1 if trial.state == TrialState.FAIL else 0
        if self.in_a_row >= self.limit:
            print(f"[tune] {self.limit} trials failed in a row; stopping (their reasons are in trials.md)", flush=True)
            study.stop()


class StudyStopped(RuntimeError):
    """A stop request inside a trial: Optuna marks the trial failed and re-raises (it is not in ``catch``)."""

    def __init__(self, exit_status: int) -> None:
        super().__init__(f"stopped (exit status {exit_status})")
        self.exit_status = exit_status


class TrialFailed(RuntimeError):
    """A trial's fit stopped with an error; the study records the reason and goes on."""


class Tuner:
    """One study: its storage, the objective (a fit per trial) and what it writes."""

    def __init__(self, args: Any, fit_args: list[str]) -> None:
        """``args``: the options of :mod:`lightning_seq.cli.tune`; ``fit_args``: every trial's fit arguments."""
        self.args = args
        self.fit_args = list(fit_args)
        self.space = load_space(args.space)
        self.base = check_space(self.space, self.fit_args, source=str(args.space))
        data = self.base["data"].get("init_args", self.base["data"])  # the DataModule's arguments
        if not data.get("val_split") or self.base["checkpoint"].get("monitor") != MONITOR:
            raise BadValue(
                "tuning scores trials on validation: the base config needs data.val_split > 0 and "
                f"checkpoint.monitor {MONITOR}; configs/best.yaml's final fit on all wires has neither: add "
                "--config configs/search/validated.yaml after it, or tune from a preset such as configs/gru.yaml"
            )
        self.name = args.study or f"{Path(args.config[-1]).stem}-{args.space.stem}"
        self.directory = args.out / self.name
        self.directory.mkdir(parents=True, exist_ok=True)
        self.storage_url = args.storage or f"sqlite:///{(self.directory / 'study.db').resolve()}"
        self.directions = OBJECTIVES[args.objectives]

    # -- the study -------------------------------------------------------------------------------------------

    def storage(self) -> RDBStorage:
        engine = {"connect_args": {"timeout": 60}} if self.storage_url.startswith("sqlite") else {}
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", EXPERIMENTAL, ExperimentalWarning)  # heartbeats: since Optuna 2.8
                return RDBStorage(
                    self.storage_url,
                    engine_kwargs=engine,
                    heartbeat_interval=math.ceil(self.args.heartbeat),
                    grace_period=math.ceil(2 * self.args.heartbeat),
                    # a trial whose process died (no heartbeat) is marked failed and its settings run again, once
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                )
        except (SQLAlchemyError, ImportError, ValueError) as error:  # a malformed URL, an unknown or absent driver
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise BadValue(
                f"--storage {self.storage_url}: cannot open it ({first}); give an SQLAlchemy URL such as "
                "sqlite:///tune/study.db or postgresql://user:password@host/db (with its driver installed)"
            ) from None

    def study(self, worker: int = 0) -> optuna.Study:
        storage = self.storage()
        earlier = {summary.study_name: summary.n_trials for summary in optuna.get_all_study_summaries(storage)}
        seed = self.args.seed + worker + 1000 * earlier.get(self.name, 0)  # a resumed study does not replay draws
        study = optuna.create_study(
            study_name=self.name,
            storage=storage,
            directions=list(self.directions),
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=self.pruner(),
            load_if_exists=True,
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", EXPERIMENTAL, ExperimentalWarning)
            study.set_metric_names([METRIC_NAMES[direction] for direction in self.args.objectives.split("+")])
        if self.args.baseline and not study.get_trials(deepcopy=False):
            study.enqueue_trial(self.base_values(), user_attrs={"baseline": True}, skip_if_exists=True)
        fail_dead_trials(study)
        return study

    def base_values(self) -> dict[str, Any]:
        """The base config's value of every key in the space (a trial Optuna runs before sampling any)."""
        values = {}
        for key in self.space:
            node: Any = self.base
            for part in key.split("."):
                node = node[part]
            values[key] = node
        return values

    def pruner(self) -> optuna.pruners.BasePruner:
        if self.args.pruner == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)
        if self.args.pruner == "hyperband":
            return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=self.base["trainer"]["max_epochs"])
        return optuna.pruners.NopPruner()

    def finished(self, study: optuna.Study) -> int:
        return len(study.get_trials(deepcopy=False, states=COUNTED))

    def optimize(self, worker: int = 0, pruner: optuna.pruners.BasePruner | None = None) -> optuna.Study:
        """Run trials in this process until the study has ``--trials`` finished ones (or ``--timeout``).

        Trials running in other workers count towards the target, so that workers sharing a study stop together
        instead of each starting one more; failed ones do not (their settings may be retried).
        """
        study = self.study(worker)
        if pruner is not None:
            study.pruner = pruner
        if self.finished(study) < self.args.trials:
            in_flight = (*COUNTED, TrialState.RUNNING)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", EXPERIMENTAL, ExperimentalWarning)  # the heartbeat's stale check
                study.optimize(
                    self.objective,
                    timeout=self.args.timeout,
                    catch=(TrialFailed,),
                    callbacks=[MaxTrialsCallback(self.args.trials, states=in_flight), StopAfterFailures()],
                    gc_after_trial=True,
                )
        return study

    # -- one trial -------------------------------------------------------------------------------------------

    def trial_args(self, trial: optuna.Trial) -> list[str]:
        values = {key: suggest(trial, key, dist) for key, dist in self.space.items()}
        return [
            *self.fit_args,
            *as_args(values),
            "--trainer.logger.init_args.save_dir", str(self.directory),
            "--trainer.logger.init_args.name", "trials",
            "--trainer.logger.init_args.version", f"trial_{trial.number:03d}",
            "--trainer.enable_progress_bar", "false",
            "--test_after_fit", "false",  # trials see validation only
        ]  # fmt: skip

    def objective(self, trial: optuna.Trial) -> float | tuple[float, float]:
        args = self.trial_args(trial)
        single = len(self.directions) == 1
        pruning = [EpochPruning(trial, monitor=MONITOR)] if single else []
        start = time.perf_counter()
        errors = io.StringIO()
        trial.set_user_attr("host", socket.gethostname())  # so that a rerun can tell a dead trial from a running one
        trial.set_user_attr("pid", os.getpid())
        print(f"[tune] trial {trial.number}: {trial.params}", flush=True)
        try:
            with contextlib.redirect_stderr(_Tee(sys.stderr, errors)):
                cli = run(["fit", *args], callbacks=pruning)
        except optuna.TrialPruned:
            self._record(trial, time.perf_counter() - start, pruning[0].epochs_reported)
            trial.set_user_attr("worker", f"pid {os.getpid()}, {torch.get_num_threads()} threads")
            raise
        except SystemExit as exit_:
            lines = [line for line in errors.getvalue().splitlines() if line.startswith("error: ")]
            if exit_.code == USAGE_ERROR and lines:  # the parser refused the combination (printed as one line)
                raise self._failed(trial, lines[-1]) from None
            # A stop request: SIGTERM (Lightning's SIGTERMException) or Ctrl-C (Lightning exits 1). The study stops
            # with this trial failed; the same command continues it.
            stop = "SIGTERM" if isinstance(exit_, SIGTERMException) else f"exit status {exit_.code}"
            self._failed(trial, f"stopped by {stop}; run the same command to continue")
            raise StudyStopped(SIGTERM_EXIT if isinstance(exit_, SIGTERMException) else exit_.code or 1) from None
        except Exception as error:
            raise self._failed(
                trial, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            ) from error
        seconds = time.perf_counter() - start
        trainer = cli.trainer
        self._record(trial, seconds, trainer.current_epoch, trainer.log_dir)
        trial.set_user_attr("worker", f"pid {os.getpid()}, {torch.get_num_threads()} threads")
        score = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
        if score is None or not math.isfinite(float(score)):
            raise self._failed(trial, f"no finite {MONITOR} was logged (validation skipped?)")
        return float(score) if single else (float(score), seconds)

    @staticmethod
    def _record(trial: optuna.Trial, seconds: float, epochs: int, log_dir: str | None = None) -> None:
        trial.set_user_attr("seconds", round(seconds, 2))
        trial.set_user_attr("epochs", epochs)
        if log_dir:
            trial.set_user_attr("log_dir", str(log_dir))

    @staticmethod
    def _failed(trial: optuna.Trial, reason: str) -> TrialFailed:
        trial.set_user_attr("failure", reason)
        print(f"[tune] trial {trial.number} failed: {reason}", file=sys.stderr, flush=True)
        return TrialFailed(reason)

    # -- workers ---------------------------------------------------------------------------------------------

    def run_workers(self, argv: Sequence[str]) -> None:
        """``--workers N``: N processes of this command on the study, each with its share of the cores."""
        self.study()  # create the study (and its tables) once, before the workers race to
        threads = self.args.threads or max(1, (os.cpu_count() or 1) // self.args.workers)
        rest = list(argv)
        for name in ("--workers", "--threads"):  # each worker gets its own
            rest = pop_option(rest, name)[0]
        processes = []
        for index in range(self.args.workers):
            command = [
                sys.executable,
                "-m",
                "lightning_seq",
                "tune",
                *rest,
                "--workers",
                "1",
                "--threads",
                str(threads),
            ]
            env = os.environ | {"OMP_NUM_THREADS": str(threads), "LIGHTNING_SEQ_TUNE_WORKER": str(index)}
            processes.append(subprocess.Popen(command, env=env))
        codes = [process.wait() for process in processes]
        if any(codes):
            raise BadValue(f"tune workers exited with status {codes}; their output above says why")

    # -- outputs ---------------------------------------------------------------------------------------------

    def write_outputs(self) -> list[Path]:
        from lightning_seq.tune.report import write_study_outputs

        return write_study_outputs(self.study(), self.directory, self.name, self.args.objectives)


class _Tee(io.TextIOBase):
    def __init__(self, *streams: Any) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def fail_dead_trials(study: optuna.Study) -> list[int]:
    """Mark failed, and run again, the trials left RUNNING by a process of this machine that no longer exists.

    Optuna's heartbeat finds them too, but only once its grace period has passed, so a study continued at once
    would keep them RUNNING; a process that is gone on this machine is known dead without waiting.
    """
    dead = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid, host = trial.user_attrs.get("pid"), trial.user_attrs.get("host")
        if host != socket.gethostname() or pid is None or _alive(int(pid)):
            continue
        study.tell(trial.number, state=TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        dead.append(trial.number)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
