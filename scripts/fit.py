"""Train and test a recurrent classifier on Reuters: ``python scripts/fit.py --config configs/gru.yaml``.

``--help`` lists every option; short flags such as ``--cell lstm --accelerator gpu`` are described there.
"""

from lightning_seq.cli.lightning_cli import main

if __name__ == "__main__":
    main()
