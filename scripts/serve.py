"""Serve a checkpoint over HTTP: ``python scripts/serve.py --ckpt PATH`` (then open http://127.0.0.1:8000/)."""

from lightning_seq.cli.serve import main

if __name__ == "__main__":
    main()
