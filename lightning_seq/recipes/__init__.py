"""The seed recipe (``seed.yaml``) and the presets written from it."""
