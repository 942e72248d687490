"""Test a checkpoint and write its per-topic report and figures: ``python scripts/test.py --ckpt PATH``."""

from lightning_seq.evaluate import main

if __name__ == "__main__":
    main()
