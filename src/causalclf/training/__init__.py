"""Training: the settings (`config.py`, light) and the one training loop (`loop.py`: the Hugging Face Trainer,
best-on-validation selection, checkpoints, health checks and restarts)."""
