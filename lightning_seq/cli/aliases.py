"""Short flags: aliases for the settings people change most, each expanded in place to its full key.

Expanded where it stands, an alias overrides a ``--config`` given before it and is overridden by one given
after it, like any LightningCLI option.
"""

from __future__ import annotations

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
SWITCHES = {"--bidirectional"}  # may be given without a value, meaning true
# scripts/test.py's name for the test's --ckpt_path.
EVALUATION_FLAGS = {"--ckpt": "--ckpt_path"}
EVALUATED_WITH = ("--accelerator", "--precision", "--batch_size", "--data_dir")  # the short flags that matter there


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
        if name in SWITCHES and not equals and following.startswith("-"):
            expanded.append("true")
    return expanded


def option(argv: list[str], name: str) -> str | None:
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
    value = option(argv, name)
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            kept.append(arg)
    return kept, value
