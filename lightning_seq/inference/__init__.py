"""Using a trained checkpoint: loading it with its data settings, topics for raw text."""
