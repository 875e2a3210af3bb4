"""The reference our VAEs are measured against: an MLP VAE of the pytorch/examples shape
(784-400-20, ReLU, Adam 1e-3, batch 128, 10 epochs), trained on the same data and scored
by the same code (`explorer.analysis.metrics`)."""
from __future__ import annotations

import time

import numpy as np
from torch import nn
import torch.nn.functional as F

from explorer.core.config import ModelConfig, TrainConfig
from explorer.models.vae import VAE, LossTerms, bernoulli_nll, gaussian_kl


class MLPVAE(nn.Module):
    """x (B, C, H, W) -> 400 -> (mu, logvar) of 20 -> 400 -> logits (B, C, H, W)."""

    conditional = False

    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), hidden: int = 400, latent_dim: int = 20):
        super().__init__()
        self.cfg = ModelConfig(kind="vae", image_shape=image_shape, latent_dim=latent_dim)
        self.image_shape = tuple(image_shape)
        n = int(np.prod(image_shape))
        self.fc1 = nn.Linear(n, hidden)
        self.fc21 = nn.Linear(hidden, latent_dim)
        self.fc22 = nn.Linear(hidden, latent_dim)
        self.fc3 = nn.Linear(latent_dim, hidden)
        self.fc4 = nn.Linear(hidden, n)

    def encode(self, x, y=None):
        h = F.relu(self.fc1(x.flatten(1)))
        return self.fc21(h), self.fc22(h)

    reparameterize = staticmethod(VAE.reparameterize)

    def decode(self, z, y=None):
        return self.fc4(F.relu(self.fc3(z))).view(-1, *self.image_shape)

    def loss(self, x, y=None, kl_scale: float = 1.0) -> LossTerms:
        mu, logvar = self.encode(x)
        recon = bernoulli_nll(self.decode(self.reparameterize(mu, logvar)), x)
        kl = gaussian_kl(mu, logvar)
        total = (recon + kl_scale * kl).mean()
        return LossTerms(total=total, terms={"recon": recon.mean().detach(), "kl": kl.mean().detach(),
                                             "neg_elbo": (recon + kl).mean().detach()})


def train_reference(train_data, test_data, epochs: int = 10, seed: int = 0, device: str = "cpu",
                    on_epoch=None) -> tuple[MLPVAE, dict]:
    """Train the reference MLP VAE with the shared loop; returns it and its test figures."""
    from explorer.analysis.metrics import elbo_terms
    from explorer.training.loop import train

    model = MLPVAE(tuple(train_data.pixels.shape[1:]))
    cfg = TrainConfig(dataset=train_data.spec.name if hasattr(train_data, "spec") else "", epochs=epochs,
                      batch_size=128, lr=1e-3, seed=seed, device=device, lr_schedule="constant")
    t0 = time.perf_counter()
    result = train(model.cfg, cfg, train_data, None, model=model,
                   on_epoch_end=(lambda r: on_epoch(r, time.perf_counter() - t0)) if on_epoch else None)
    seconds = time.perf_counter() - t0
    figures = elbo_terms(result.model, test_data.images, test_data.labels)
    figures["train_seconds"] = seconds
    figures["epochs"] = epochs
    return result.model, figures
