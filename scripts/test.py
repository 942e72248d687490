"""Test a checkpoint and write its per-topic report and figures: ``python scripts/test.py --ckpt PATH``.

The same as ``lightning-seq test --ckpt_path PATH`` (``--help`` for the options).
"""

from lightning_seq.cli.lightning_cli import main

if __name__ == "__main__":
    main(command="test")
