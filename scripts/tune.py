"""Hyperparameter search with Optuna: ``python scripts/tune.py --config BASE.yaml --space SPACE.yaml --trials N``.

The same as ``lightning-seq tune ...``; ``--help`` for the options, any other flag is a fit override for every trial.
"""

from lightning_seq.cli.tune import main

if __name__ == "__main__":
    main()
