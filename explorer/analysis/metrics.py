"""Test-set figures for every model kind (what `python -m explorer evaluate` prints)."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from explorer.analysis import latent
from explorer.analysis.latent import batches, model_device
from explorer.core.kinds import CLASSIFYING_KINDS, VAE_KINDS, condition, is_conditional
from explorer.models import bernoulli_nll, gaussian_kl

LOG_2PI = math.log(2 * math.pi)


def elbo_terms(model: nn.Module, images: np.ndarray, labels: np.ndarray | None = None, samples: int = 1,
               batch_size: int = 500, seed: int = 0, on_batch: Callable[[int], None] | None = None) -> dict[str, float]:
    """Mean reconstruction NLL, KL and negative ELBO per image, in nats (`samples` draws of z each)."""
    recon, kl = elbo_per_image(model, images, labels, samples, batch_size, seed, on_batch)
    return {"recon": float(recon.sum()) / len(images), "kl": float(kl.sum()) / len(images),
            "neg_elbo": float((recon + kl).sum()) / len(images)}


@torch.no_grad()
def elbo_per_image(model: nn.Module, images: np.ndarray, labels: np.ndarray | None = None, samples: int = 1,
                   batch_size: int = 500, seed: int = 0,
                   on_batch: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each image's reconstruction term -E_q[log p(x|z)] (averaged over `samples` draws of z)
    and its KL(q(z|x) || p(z)), in nats, float64 (N,) each; their sum is the negative ELBO.
    `on_batch(images done)` is called after every batch."""
    model.eval()
    torch.manual_seed(seed)
    dev = model_device(model)
    labels = condition(model, labels)
    recon_parts, kl_parts = [], []
    for xb, yb in batches(images, labels, batch_size, dev):
        mu, logvar = model.encode(xb, yb)
        kl_parts.append(gaussian_kl(mu, logvar).double().cpu().numpy())
        recon = torch.zeros(len(xb), dtype=torch.float64, device=dev)
        for _ in range(samples):
            z = model.reparameterize(mu, logvar)
            recon += bernoulli_nll(model.decode(z, yb), xb).double() / samples
        recon_parts.append(recon.cpu().numpy())
        if on_batch is not None:
            on_batch(sum(len(r) for r in recon_parts))
    if not recon_parts:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(recon_parts), np.concatenate(kl_parts)


@torch.no_grad()
def iwae_nll(model: nn.Module, images: np.ndarray, labels: np.ndarray | None = None, k: int = 100,
             batch_size: int = 100, seed: int = 0, on_batch: Callable[[int], None] | None = None) -> float:
    """Importance-weighted estimate of -log p(x) (Burda et al., 2016), mean nats per image:
    -log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x). Tighter than the ELBO as k grows.
    `on_batch(images done)` is called after every batch."""
    done = 0
    model.eval()
    torch.manual_seed(seed)
    dev = model_device(model)
    labels = condition(model, labels)
    total = 0.0
    for xb, yb in batches(images, labels, batch_size, dev):
        mu, logvar = model.encode(xb, yb)
        b, d = mu.shape
        std = torch.exp(0.5 * logvar)
        eps = torch.randn(k, b, d, device=dev)
        z = mu + std * eps                                                     # (k, B, D)
        log_q = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)                 # (k, B)
        log_p_z = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)                          # (k, B)
        x_rep = xb.expand(k, *xb.shape).reshape(k * b, *xb.shape[1:])
        y_rep = None if yb is None else yb.expand(k, b).reshape(k * b)
        log_px = -bernoulli_nll(model.decode(z.reshape(k * b, d), y_rep), x_rep).view(k, b)
        log_w = log_px + log_p_z - log_q
        total += float(-(torch.logsumexp(log_w, 0) - math.log(k)).sum())
        done += b
        if on_batch is not None:
            on_batch(done)
    return total / len(images)


@torch.no_grad()
def active_units(model: nn.Module, images: np.ndarray, labels: np.ndarray | None = None,
                 threshold: float = 0.01) -> int:
    """Dimensions whose posterior mean varies across the data by more than `threshold`
    (Cov_x(E_q[z_d]) > 0.01, Burda et al., 2016): the rest have collapsed to the prior."""
    mu = encode_means(model, images, labels)
    return int((mu.var(axis=0) > threshold).sum())


def encode_means(model: nn.Module, images: np.ndarray, labels: np.ndarray | None = None,
                 batch_size: int = 1000) -> np.ndarray:
    """Posterior means (N, D); see `latent.encode`."""
    return latent.encode(model, images, labels, batch_size)[0]


def predict_proba(model: nn.Module, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Class probabilities (N, K) from a classifier or a hybrid's head; see `latent.classify`."""
    return latent.classify(model, images, batch_size)[1]


def classification_metrics(pred: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
    """Accuracy, macro-F1 and the confusion matrix (rows: true class, columns: predicted)."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels, pred), 1)
    tp = np.diag(cm).astype(float)
    precision = np.divide(tp, cm.sum(0), out=np.zeros_like(tp), where=cm.sum(0) > 0)
    recall = np.divide(tp, cm.sum(1), out=np.zeros_like(tp), where=cm.sum(1) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    return {"accuracy": float(tp.sum() / max(1, cm.sum())), "macro_f1": float(f1.mean()), "confusion": cm.tolist()}


def pixel_entropy_floor(images: np.ndarray) -> float:
    """The least -log p(x) any Bernoulli decoder can reach on grey levels: each pixel's own
    binary entropy, summed per image, averaged (nats)."""
    p = np.clip(images.astype(np.float64), 1e-12, 1 - 1e-12)
    h = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    return float(h.reshape(len(images), -1).sum(1).mean())


def sample_images(model: nn.Module, n: int, label: int | None = None, seed: int = 0,
                  temperature: float = 1.0) -> np.ndarray:
    """Decoder means (n, C, H, W) in [0, 1] for z ~ N(0, temperature^2 I), of class `label` for a cvae;
    see `latent.sample_prior`."""
    return latent.sample_prior(model, n, label, seed, temperature)[0]


def _mean_pairwise_distance(x: np.ndarray, max_n: int = 500, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    if len(x) > max_n:
        x = x[rng.choice(len(x), max_n, replace=False)]
    flat = x.reshape(len(x), -1).astype(np.float64)
    sq = (flat ** 2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * flat @ flat.T, 0)
    iu = np.triu_indices(len(x), 1)
    return float(np.sqrt(d2[iu]).mean())


def conditional_fidelity(cvae: nn.Module, classifier: nn.Module, test_images: np.ndarray,
                         test_labels: np.ndarray, n_per_class: int = 500, seed: int = 0) -> dict:
    """Share of class-conditional samples the classifier assigns to the requested class, and
    sample diversity: mean pairwise distance between a class's samples over that between its
    real test images (1 = as varied as the data, near 0 = one image repeated)."""
    k = cvae.cfg.num_classes
    per_class, diversity = [], []
    for c in range(k):
        imgs = sample_images(cvae, n_per_class, label=c, seed=seed + c)
        pred = predict_proba(classifier, imgs).argmax(1)
        per_class.append(float((pred == c).mean()))
        real = test_images[test_labels == c]
        if len(real) > 1:
            diversity.append(_mean_pairwise_distance(imgs, seed=seed) / max(1e-9, _mean_pairwise_distance(real, seed=seed)))
    return {
        "conditional_fidelity": float(np.mean(per_class)),
        "conditional_fidelity_per_class": per_class,
        "sample_diversity": float(np.mean(diversity)) if diversity else float("nan"),
    }


def _share(progress: Callable[[float], None] | None, base: float, weight: float, total: float):
    """An on_batch hook that tells `progress` the fraction (base + weight * images done) / total."""
    if progress is None:
        return None
    return lambda done: progress(min(1.0, (base + weight * done) / max(1.0, total)))


def evaluate_model(model: nn.Module, images: np.ndarray, labels: np.ndarray, iwae_k: int = 100,
                   classifier: nn.Module | None = None, progress: Callable[[float], None] | None = None) -> dict:
    """Every figure that applies to this model's kind, on the given (test) split.
    `progress(fraction done)` is told how far the ELBO and IWAE passes, the slow part, have gone."""
    kind = model.cfg.kind
    out: dict = {"kind": kind, "n_test": int(len(images))}
    if kind in VAE_KINDS:
        # the IWAE pass decodes each image k times, the ELBO pass once: their batches weigh so
        n, k = len(images), max(0, iwae_k)
        out.update(elbo_terms(model, images, labels, on_batch=_share(progress, 0, 1, n * (1 + k))))
        if iwae_k > 0:
            out["iwae_nll"] = iwae_nll(model, images, labels, k=iwae_k, on_batch=_share(progress, n, k, n * (1 + k)))
            out["iwae_k"] = iwae_k
        out["active_units"] = active_units(model, images, labels)
        out["latent_dim"] = model.cfg.latent_dim
        out["pixel_entropy_floor"] = pixel_entropy_floor(images)
    if kind in CLASSIFYING_KINDS:
        pred = predict_proba(model, images).argmax(1)
        out.update(classification_metrics(pred, labels, model.cfg.num_classes))
    if is_conditional(kind) and classifier is not None:
        out.update(conditional_fidelity(model, classifier, images, labels))
    return out
