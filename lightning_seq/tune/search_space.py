"""Search spaces for ``scripts/tune.py``: a YAML file that names fit settings by their full config keys.

    model.hidden_size: {type: int, low: 64, high: 256, log: true}
    model.optimizer.init_args.lr: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}
    model.pooling: {type: categorical, choices: [last, max, attention]}
    data.maxlen: {type: int, low: 100, high: 400, step: 50}

Every key and every value the space can take (bounds, each choice) is checked against the fit front door's
own parser before any trial runs, so a typo or an out-of-range bound is refused by name, not at trial 17.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from lightning_seq.cli.lightning_cli import resolved_config
from lightning_seq.errors import BadValue, MissingFile

FIELDS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}
EXAMPLE = "e.g. model.hidden_size: {type: int, low: 64, high: 256, log: true}"


def load_space(path: str | Path) -> dict[str, BaseDistribution]:
    """The distributions of ``path``, by full config key (unchecked against the CLI: see :func:`check_space`)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFile(f"search space {path} does not exist; configs/search/*.yaml are examples")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise BadValue(f"search space {path} is not a YAML text file (byte {error.start} is not UTF-8)") from None
    except yaml.YAMLError as error:
        raise BadValue(f"search space {path} is not valid YAML ({str(error).splitlines()[0]})") from None
    if not raw:
        raise BadValue(f"search space {path} is empty: name at least one setting to search ({EXAMPLE})")
    if not isinstance(raw, Mapping):
        raise BadValue(f"search space {path} must map config keys to distributions ({EXAMPLE})")
    return {str(key): distribution(f"{path}: {key}", spec) for key, spec in raw.items()}


def distribution(where: str, spec: Any) -> BaseDistribution:
    """One Optuna distribution from ``{type: float|int|categorical, ...}``; every mistake named in one line."""
    kind = spec.get("type") if isinstance(spec, Mapping) else None
    if kind not in FIELDS:
        raise BadValue(f"{where}: {spec!r} is not a distribution; give type: float | int | categorical ({EXAMPLE})")
    unknown = set(spec) - FIELDS[kind]
    if unknown:
        raise BadValue(f"{where}: unknown field(s) {sorted(unknown)} for type {kind}; allowed: {sorted(FIELDS[kind])}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise BadValue(f"{where}: choices must be a non-empty list, got {choices!r}")
        if any(not isinstance(choice, None | bool | int | float | str) for choice in choices):
            raise BadValue(f"{where}: choices must be plain values (numbers, strings, true/false, null): {choices!r}")
        if len(set(map(repr, choices))) != len(choices):
            raise BadValue(f"{where}: choices repeat a value: {choices!r}")
        return CategoricalDistribution(choices)
    number = int if kind == "int" else (int, float)
    low, high, log, step = spec.get("low"), spec.get("high"), spec.get("log", False), spec.get("step")
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, number):
            raise BadValue(f"{where}: {name} must be {'an integer' if kind == 'int' else 'a number'}, got {value!r}")
    if low > high:
        raise BadValue(f"{where}: low {low} is above high {high}")
    if not isinstance(log, bool):
        raise BadValue(f"{where}: log must be true or false, got {log!r}")
    if log and low <= 0:
        raise BadValue(f"{where}: a log scale needs low > 0, got {low}")
    if step is not None and (isinstance(step, bool) or not isinstance(step, number) or step <= 0):
        raise BadValue(f"{where}: step must be a positive {'integer' if kind == 'int' else 'number'}, got {step!r}")
    if kind == "int":
        if log and step not in (None, 1):
            raise BadValue(f"{where}: an int on a log scale takes no step (got step {step})")
        return IntDistribution(low, high, log=log, step=step or 1)
    if log and step is not None:
        raise BadValue(f"{where}: a float on a log scale takes no step (got step {step})")
    return FloatDistribution(float(low), float(high), log=log, step=step)


def suggest(trial: optuna.Trial, key: str, dist: BaseDistribution) -> Any:
    """The trial's value for ``key``, through Optuna's public ``suggest_*`` methods."""
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(key, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(key, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_float(key, dist.low, dist.high, step=dist.step, log=dist.log)


def check_space(space: Mapping[str, BaseDistribution], fit_args: list[str], source: str = "search space") -> dict:
    """Refuse keys the fit front door does not know (naming close matches) and values its parser rejects.

    Returns the base configuration ``fit_args`` resolve to.
    """
    base = resolved_config(fit_args)
    known = set(_keys(base))
    for key in space:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(close)}?" if close else "; `scripts/fit.py --print_config` lists them"
            raise BadValue(f"{source}: {key} is not a setting of this config{hint}")
    for values in corners(space):  # every bound and every choice passes the parser at least once
        try:
            resolved_config([*fit_args, *as_args(values)])
        except BadValue as error:
            raise BadValue(f"{source}: the space reaches a value the fit refuses: {error}") from None
    return base


def corners(space: Mapping[str, BaseDistribution]) -> list[dict[str, Any]]:
    """Settings that together visit each low, each high and each categorical choice."""
    extremes = {key: _extremes(dist) for key, dist in space.items()}
    count = max(len(values) for values in extremes.values())
    return [{key: values[index % len(values)] for key, values in extremes.items()} for index in range(count)]


def _extremes(dist: BaseDistribution) -> list[Any]:
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    return [dist.low, dist.high]


def as_args(values: Mapping[str, Any]) -> list[str]:
    """``{"model.hidden_size": 128}`` as ``["--model.hidden_size", "128"]`` (YAML spelling for true/null)."""
    args = []
    for key, value in values.items():
        text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
        args += [f"--{key}", text]
    return args


def _keys(config: Any, prefix: str = "") -> list[str]:
    """Every key of a nested config, inner ones too: ``model``, ``model.optimizer``, ``model.optimizer.init_args``."""
    if not isinstance(config, Mapping):
        return []
    keys = []
    for name, value in config.items():
        key = f"{prefix}{name}"
        keys += [key, *_keys(value, key + ".")]
        if isinstance(value, Mapping) and isinstance(value.get("init_args"), Mapping):
            keys += _keys(value["init_args"], key + ".")  # the shorthand data.maxlen for data.init_args.maxlen
    return keys
