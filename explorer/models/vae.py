"""The VAE family: plain (`vae`), class-conditional (`cvae`) and with a classifier head (`hybrid`).

All three share one objective, the negative ELBO of Kingma & Welling (2014) with a
Bernoulli likelihood on intensities in [0, 1]:

    -ELBO(x) = E_q[-log p(x|z)] + beta * KL(q(z|x) || N(0, I))

The KL term has a closed form for a diagonal Gaussian posterior (Appendix B of the
paper): KL = -0.5 * sum(1 + log sigma^2 - mu^2 - sigma^2).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from explorer.core.config import ModelConfig
from explorer.models.layers import ConvDecoder, ConvEncoder


@dataclass
class VAEOutput:
    logits: torch.Tensor                      # (B, C, H, W) Bernoulli logits of the reconstruction
    mu: torch.Tensor                          # (B, D) posterior mean
    logvar: torch.Tensor                      # (B, D) posterior log-variance
    z: torch.Tensor                           # (B, D) the sampled code
    class_logits: torch.Tensor | None = None  # (B, K) hybrid head on mu


@dataclass
class LossTerms:
    total: torch.Tensor           # scalar to minimise (mean per image)
    terms: dict[str, torch.Tensor]  # detached scalars for logging: recon, kl, neg_elbo, ce, acc


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) per image, in nats: binary cross-entropy summed over pixels. (B,)"""
    return F.binary_cross_entropy_with_logits(logits.float(), x, reduction="none").flatten(1).sum(1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) per image, summed over dimensions. (B,)"""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).float().sum(1)


class VAE(nn.Module):
    """Convolutional VAE; `cvae` and `hybrid` subclass it and change only what differs."""

    conditional = False

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        cond = cfg.num_classes if self.conditional else 0
        self.encoder = ConvEncoder(cfg, cond_dim=cond)
        self.to_mu = nn.Linear(cfg.hidden, cfg.latent_dim)
        self.to_logvar = nn.Linear(cfg.hidden, cfg.latent_dim)
        self.decoder = ConvDecoder(cfg, cfg.latent_dim, cond_dim=cond)

    def _onehot(self, y: torch.Tensor | None) -> torch.Tensor | None:
        if not self.conditional:
            return None
        if y is None:
            raise ValueError("a conditional VAE needs class labels y")
        return F.one_hot(y.long(), self.cfg.num_classes).to(self.to_mu.weight.dtype)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): mean and log-variance, each (B, D)."""
        h = self.encoder(x, self._onehot(y))
        return self.to_mu(h), self.to_logvar(h).clamp(-30.0, 20.0)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I), so gradients flow through mu and sigma."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """p(x|z): Bernoulli logits (B, C, H, W); apply sigmoid for the mean image."""
        return self.decoder(z, self._onehot(y))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> VAEOutput:
        mu, logvar = self.encode(x, y)
        z = self.reparameterize(mu, logvar) if self.training else mu
        return VAEOutput(logits=self.decode(z, y), mu=mu, logvar=logvar, z=z, class_logits=self._head(mu))

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, kl_scale: float = 1.0) -> LossTerms:
        # Always a sampled z, in eval mode too, so the figure is an honest one-sample ELBO estimate.
        mu, logvar = self.encode(x, y)
        z = self.reparameterize(mu, logvar)
        out = VAEOutput(logits=self.decode(z, y), mu=mu, logvar=logvar, z=z, class_logits=self._head(mu))
        recon = bernoulli_nll(out.logits, x)
        kl = gaussian_kl(out.mu, out.logvar)
        total = (recon + kl_scale * self.cfg.beta * kl).mean()
        terms = {"recon": recon.mean(), "kl": kl.mean(), "neg_elbo": (recon + kl).mean()}
        return self._extra_loss(x, out, y, total, terms)

    def _head(self, mu: torch.Tensor) -> torch.Tensor | None:
        return None

    def _extra_loss(self, x: torch.Tensor, out: VAEOutput, y, total, terms) -> LossTerms:
        """What a subclass adds to the ELBO (its terms detached for logging); nothing here."""
        return LossTerms(total=total, terms={k: v.detach() for k, v in terms.items()})


class CVAE(VAE):
    """Conditional VAE (Sohn et al., 2015): encoder and decoder both see the one-hot class.

    With `consistency_weight` (lambda) > 0 it also learns to make its class-conditional samples
    recognisable. A plain CVAE's decoder can lean on z for what tells a coat from a pullover,
    because its encoder sees the image; samples drawn from the prior then come out as the
    class's blurred average, which lacks exactly those details (a coat's opening, a shirt's
    collar, a sandal's straps). Here a small auxiliary CNN learns the classes from the real
    training images, and the decoder is trained so that the aux net recognises class y in
    its decoded prior samples (z ~ N(0, I), y):

        loss = -ELBO(x | y) + CE(aux(x), y) + lambda * CE(aux(decode(z, y)), y)

    The aux net's weights are frozen in the last term, so it is only ever taught by real
    images and cannot learn to agree with the decoder. It is not the classifier that judges
    the samples (that is the separate CNN checkpoint), and it is saved with the model.
    """

    conditional = True

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.aux = AuxClassifier(cfg) if cfg.consistency_weight > 0 else None

    def _extra_loss(self, x: torch.Tensor, out: VAEOutput, y, total, terms) -> LossTerms:
        if self.aux is not None and y is not None and self.training:
            real_logits = self.aux(x).float()
            aux_ce = F.cross_entropy(real_logits, y)
            z = torch.randn(x.shape[0], self.cfg.latent_dim, device=x.device, dtype=self.to_mu.weight.dtype)
            samples = torch.sigmoid(self.decode(z, y))
            frozen = {name: p.detach() for name, p in self.aux.named_parameters()}
            gen_logits = torch.func.functional_call(self.aux, frozen, (samples,)).float()
            gen_ce = F.cross_entropy(gen_logits, y)
            total = total + aux_ce + self.cfg.consistency_weight * gen_ce
            terms.update(aux_ce=aux_ce, aux_acc=(real_logits.argmax(1) == y).float().mean(),
                         gen_ce=gen_ce, gen_acc=(gen_logits.argmax(1) == y).float().mean())
        return super()._extra_loss(x, out, y, total, terms)


class AuxClassifier(nn.Module):
    """A small CNN without BatchNorm (so scoring decoded samples leaves no running statistics
    behind): conv-ReLU-pool twice, then a dense layer. (B, C, H, W) -> (B, K) logits."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c_in, h, w = cfg.image_shape
        c1, c2 = cfg.channels
        scale = 2 ** cfg.stages
        self.net = nn.Sequential(
            nn.Conv2d(c_in, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, c1, H/2, W/2)
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # (B, c2, H/4, W/4)
            *([nn.MaxPool2d(2)] if cfg.stages == 3 else []),                # (B, c2, H/8, W/8)
            nn.Flatten(), nn.Dropout(0.25),
            nn.Linear(c2 * (h // scale) * (w // scale), 128), nn.ReLU(), nn.Linear(128, cfg.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class HybridVAE(VAE):
    """VAE with a classifier head on the latent mean, trained on -ELBO + lambda * CE."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.head = nn.Sequential(
            nn.Linear(cfg.latent_dim, 256), nn.SiLU(), nn.Dropout(0.2), nn.Linear(256, cfg.num_classes)
        )

    def _head(self, mu: torch.Tensor) -> torch.Tensor:
        return self.head(mu)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, K) from the head on the posterior mean."""
        mu, _ = self.encode(x)
        return self.head(mu)

    def _extra_loss(self, x: torch.Tensor, out: VAEOutput, y, total, terms) -> LossTerms:
        if y is not None:
            ce = F.cross_entropy(out.class_logits.float(), y)
            total = total + self.cfg.head_weight * ce
            terms["ce"] = ce
            terms["acc"] = (out.class_logits.argmax(1) == y).float().mean()
        return super()._extra_loss(x, out, y, total, terms)
