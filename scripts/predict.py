"""Topics for raw text: ``python scripts/predict.py --ckpt PATH --text "..."`` (or ``--file``, or stdin; ``--json``)."""

from lightning_seq.cli.predict import main

if __name__ == "__main__":
    main()
