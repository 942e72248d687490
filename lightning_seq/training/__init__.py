"""The Lightning system: the LightningModule, its callbacks, checkpoint writing and stopping."""
