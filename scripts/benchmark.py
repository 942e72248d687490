"""Training throughput, Lightning fit vs a plain PyTorch loop, padded-200 vs bucketed batches.

python scripts/benchmark.py                                   # CPU: every cell, uni and bi
python scripts/benchmark.py --cells gru --directions uni      # one model
python scripts/benchmark.py --accelerator gpu --precision bf16-mixed --json gpu_bf16.json
"""

from lightning_seq.experiments.benchmark import main

if __name__ == "__main__":
    main()
