"""The numbers behind one pass through a VAE, for teaching: q(z|x), the reparameterised
sample, the reconstruction and the two ELBO terms of a single image; and which test
images the model explains worst and best (what anomaly detection with a VAE looks at).

Pure functions over a model and numpy arrays, usable from a notebook; the Learn and
Anomalies pages only display what these return.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.analysis import latent, metrics
from explorer.core import diskcache
from explorer.core.kinds import condition
from explorer.models import gaussian_kl


@dataclass(frozen=True)
class Explanation:
    """One image through the VAE. Shapes: D latent dims, (C, H, W) images."""

    image: np.ndarray        # (C, H, W) the input x
    mu: np.ndarray           # (D,) mean of q(z|x)
    sigma: np.ndarray        # (D,) standard deviation of q(z|x)
    eps: np.ndarray          # (D,) the noise drawn from N(0, I)
    z: np.ndarray            # (D,) z = mu + sigma * eps
    recon: np.ndarray        # (C, H, W) decoder mean for the sampled z
    recon_at_mu: np.ndarray  # (C, H, W) decoder mean for z = mu (what the other pages show)
    pixel_nll: np.ndarray    # (C, H, W) -log p(x_i|z) per pixel, nats; sums to `recon_nats`
    recon_nats: float        # -log p(x|z) for the sampled z
    kl_per_dim: np.ndarray   # (D,) KL(q(z_d|x) || N(0, 1)), nats; sums to `kl_nats`
    kl_nats: float

    @property
    def neg_elbo(self) -> float:
        """The one-sample negative ELBO: reconstruction + KL, in nats."""
        return self.recon_nats + self.kl_nats


@torch.no_grad()
def explain(model: nn.Module, image: np.ndarray, label: int | None = None, seed: int = 0) -> Explanation:
    """Encode one (C, H, W) image, draw eps with `seed`, decode z = mu + sigma * eps, and
    measure the reconstruction and KL terms of the ELBO (Kingma and Welling, 2014)."""
    x = np.asarray(image, dtype=np.float32)[None]
    labels = None if label is None else np.array([int(label)])
    mu, logvar = latent.encode(model, x, labels)                    # (1, D) each
    sigma = np.exp(0.5 * logvar)
    eps = np.random.default_rng(seed).standard_normal(mu.shape).astype(np.float32)
    z = (mu + sigma * eps).astype(np.float32)                      # the reparameterisation trick
    dev = next(model.parameters()).device
    model.eval()
    y = condition(model, labels)
    y = None if y is None else torch.as_tensor(y, device=dev)
    logits = model.decode(torch.as_tensor(z, device=dev), y).float()
    xt = torch.as_tensor(x, device=dev)
    pixel = F.binary_cross_entropy_with_logits(logits, xt, reduction="none")[0].cpu().numpy()   # (C, H, W)
    mu_t, lv_t = torch.as_tensor(mu, device=dev), torch.as_tensor(logvar, device=dev)
    kl_dims = (-0.5 * (1 + lv_t - mu_t.pow(2) - lv_t.exp()))[0].cpu().numpy()
    kl_total = float(gaussian_kl(mu_t, lv_t)[0])
    return Explanation(
        image=x[0], mu=mu[0], sigma=sigma[0], eps=eps[0], z=z[0],
        recon=torch.sigmoid(logits)[0].cpu().numpy(),
        recon_at_mu=latent.decode(model, mu, labels)[0],
        pixel_nll=pixel, recon_nats=float(pixel.sum()), kl_per_dim=kl_dims, kl_nats=kl_total)


def anomaly_scores(model: nn.Module, images: np.ndarray, labels: np.ndarray | None = None, samples: int = 1,
                   seed: int = 0, cache_file: Path | None = None) -> dict[str, np.ndarray]:
    """Per image, in nats: "neg_elbo" (the negative ELBO, `samples` draws of z) and its terms
    "recon" and "kl". Higher: explained worse.

    With `cache_file` (a .npz named after the checkpoint's identity), the scores are read from
    it when it holds as many as there are images, else computed and written (atomically)."""
    def cached() -> dict[str, np.ndarray] | None:
        found = diskcache.read_npz(cache_file)
        if found is not None and all(np.shape(found.get(k))[:1] == (len(images),) for k in ("neg_elbo", "recon", "kl")):
            return {k: found[k] for k in ("neg_elbo", "recon", "kl")}
        return None

    def make() -> dict[str, np.ndarray]:
        recon, kl = metrics.elbo_per_image(model, images, labels, samples=samples, seed=seed)
        scores = {"neg_elbo": recon + kl, "recon": recon, "kl": kl}
        if cache_file is not None:
            try:
                diskcache.write_npz(cache_file, scores)
            except OSError:
                pass  # a read-only cache only costs the time to compute again
        return scores

    # once: the server's replicas share the cache, so one of them makes the scores
    return make() if cache_file is None else diskcache.once(cache_file, cached, make)


def scores_file(cache_dir: Path, identity: str, samples: int = 1, seed: int = 0) -> Path:
    """Where anomaly_scores() keeps one checkpoint's scores: named by a hash of its identity."""
    digest = diskcache.key(f"{identity}|{samples}|{seed}", length=20)
    return Path(cache_dir) / "scores" / f"elbo-{digest}.npz"


def extremes(scores: np.ndarray, n: int, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the `n` highest and `n` lowest scores (worst first, best first), optionally
    only among the indices `among` (e.g. one class)."""
    scores = np.asarray(scores)
    pool = np.arange(len(scores)) if among is None else np.asarray(among, dtype=np.int64)
    if len(pool) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = pool[np.argsort(scores[pool], kind="stable")]
    n = max(0, min(int(n), len(order)))
    return order[::-1][:n], order[:n]


__all__ = ["Explanation", "explain", "anomaly_scores", "scores_file", "extremes"]
