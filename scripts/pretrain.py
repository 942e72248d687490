"""Pretrain a classifier's encoder as a language model:

    python scripts/pretrain.py --config configs/pretrain/fast.yaml


Then ``python scripts/fit.py --config configs/fast.yaml --model.encoder_checkpoint <run>/checkpoints/encoder.ckpt``.
"""

from lightning_seq.cli.pretrain import main

if __name__ == "__main__":
    main()
