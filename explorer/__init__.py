"""Latent Explorer: see inside a variational autoencoder."""
__version__ = "0.1.0"
