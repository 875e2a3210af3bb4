"""A small VAE of one's own, written without anything from the app, and the factory that loads it.

The app calls `load()` only because the user names it:

    EXPLORER_FACTORY=examples.torch_factory.tiny_vae:load streamlit run explorer/app.py
    python -m explorer evaluate --checkpoint factory:examples.torch_factory.tiny_vae:load

`load()` returns a TinyVAE with the protocol's verbs and attributes (docs/your-own-model.md).
Its decoder gives probabilities (a sigmoid at the end), to show the `decoder_output` field.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

WEIGHTS_ENV = "TINY_VAE_WEIGHTS"  # where load() finds the weights train.py wrote
DEFAULT_WEIGHTS = Path(__file__).with_name("tiny_vae.safetensors")


class TinyVAE(nn.Module):
    """An MLP VAE for 8x8 digits: 64 -> 128 -> (mu, logvar) in 4-D -> 128 -> 64 probabilities."""

    # The protocol's attributes: what the app needs to know that the verbs do not say.
    dataset = "digits"
    latent_dim = 4
    decoder_output = "probabilities"
    value_range = (0.0, 1.0)

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU())
        self.to_mu, self.to_logvar = nn.Linear(128, self.latent_dim), nn.Linear(128, self.latent_dim)
        self.dec = nn.Sequential(nn.Linear(self.latent_dim, 128), nn.ReLU(), nn.Linear(128, 64))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, 1, 8, 8) in [0, 1] -> mean and log-variance of q(z|x), each (N, 4)."""
        h = self.enc(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, 4) -> Bernoulli means (N, 1, 8, 8)."""
        return torch.sigmoid(self.dec(z)).view(-1, 1, 8, 8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z), mu, logvar


def load() -> TinyVAE:
    """The factory: a trained TinyVAE in eval mode, weights from $TINY_VAE_WEIGHTS (or beside this file)."""
    from safetensors.torch import load_file

    model = TinyVAE()
    model.load_state_dict(load_file(os.environ.get(WEIGHTS_ENV, str(DEFAULT_WEIGHTS))))
    return model.eval()
