"""Experiment harnesses behind docs/speed.md and docs/results.md: ``scripts/benchmark.py`` (Lightning
``fit`` against a plain PyTorch loop) and ``scripts/compare.py`` (every cell, uni and bi, on one budget).

Nothing here is needed to train, test or use a model; the library modules do not import it.
"""
