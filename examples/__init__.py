"""Runnable examples of bringing your own model to Latent Explorer (docs/your-own-model.md)."""
