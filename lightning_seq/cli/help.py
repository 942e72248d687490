"""``--help`` of fit / validate / test: the short flags and the common keys in a screen (``--help_all``: all)."""

from __future__ import annotations

from lightning_seq.cli.aliases import EVALUATED_WITH, EVALUATION_FLAGS, SHORT_FLAGS

DESCRIPTIONS = {
    "fit": "Train a recurrent classifier on Reuters newswire topics or your own texts, then test its best checkpoint.",
    "validate": "Validate a checkpoint on the held-out 20 % of Keras's training split.",
    "test": "Test a checkpoint on Keras's test split; write its per-topic report and figures.",
}
EXAMPLES = {
    "fit": "python scripts/fit.py --config configs/gru.yaml --cell lstm --bidirectional --max_epochs 3",
    "validate": "lightning-seq validate --ckpt_path lightning_logs/gru/version_0/checkpoints/last.ckpt",
    "test": "python scripts/test.py --ckpt lightning_logs/gru/version_0/checkpoints/last.ckpt",
}
# The settings people change most after the short flags.
COMMON_KEYS = {
    "fit": {
        "--config FILE": "a YAML preset or overlay (configs/*.yaml); repeatable, later arguments win",
        "--ckpt_path PATH|last": "resume a run: a checkpoint file, or the newest last.ckpt of this config's runs",
        "--seed_everything N": "the seed of weights, shuffling and dropout (default 42)",
        "--trainer.default_root_dir DIR": "where the run's folder goes (default: here; logs in DIR/lightning_logs)",
        "--model.embedding_dim N": "word-vector width",
        "--model.dropout P": "dropout between layers and before the head, in [0, 1)",
        "--model.pooling NAME": "last | mean | max | attention",
        "--model.ngram_order N": "the n-gram branch beside the recurrent state: 0 off, 1 words, 2 + bigrams, ...",
        "--model.optimizer.init_args.lr LR": "learning rate (--model.optimizer CLASS picks another optimizer)",
        "--model.encoder_checkpoint PATH": "start from a pretrained encoder (scripts/pretrain.py; docs/model.md)",
        "--data.num_words N": "vocabulary: the N - 3 most frequent words (null: all)",
        "--data.maxlen N": "cut each newswire to its last N tokens",
        "--data TextFilesDataModule": "your own texts: --data.train_file F [--data.test_file F] (docs/own-data.md)",
        "--model.class_weights W": "none | balanced | sqrt_balanced | {label: weight}, training loss only",
        "--trainer.limit_train_batches N": "train on N batches per epoch (a quick try)",
    },
    "evaluate": {
        "--ckpt_path PATH (--ckpt)": (
            "a checkpoint scripts/fit.py wrote: model and data settings come from it; "
            "test: repeat it to test an ensemble (each member, and their mean probability)"
        ),
        "--out DIR": "where the report, figures and metrics go (default <run>/evaluation/<checkpoint name>/)",
        "--config FILE": "settings to use instead of the checkpoint's (e.g. another data split)",
    },
}
COMMON_FLAGS = {
    "--print_config": "print the full configuration and exit",
    "--help_all": "every option (Trainer, logger, callbacks: several hundred lines)",
}


def short_help(subcommand: str = "fit") -> str:
    """The short flags that apply to ``subcommand``, its common keys, and an example."""
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
