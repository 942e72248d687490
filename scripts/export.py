"""Export a checkpoint for serving: ``python scripts/export.py --ckpt PATH --format onnx|torchscript``."""

from lightning_seq.cli.export import main

if __name__ == "__main__":
    main()
