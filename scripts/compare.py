"""Train every cell, uni and bi, with the seed's recipe and the best one; write a results table and curves.

``python scripts/compare.py`` (``--help`` for the grid and output options; unknown flags go to every run).
"""

from lightning_seq.experiments.compare import main

if __name__ == "__main__":
    main()
