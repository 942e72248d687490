"""What a run reports: per-topic metrics (torchmetrics), figures (matplotlib), the run summary."""
