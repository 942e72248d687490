"""Export a checkpoint for serving: ``python scripts/export.py --ckpt PATH --format onnx|torchscript``."""

from lightning_seq.export.exporter import main

if __name__ == "__main__":
    main()
