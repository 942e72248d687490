"""The front doors: LightningCLI's fit / validate / test, and the jsonargparse commands beside them."""
