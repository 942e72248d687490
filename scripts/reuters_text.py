"""The Reuters wires as text files: ``python scripts/reuters_text.py --out data/reuters-text``."""

from lightning_seq.cli.reuters_text import main

if __name__ == "__main__":
    main()
