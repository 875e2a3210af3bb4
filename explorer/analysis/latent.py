"""Walking the latent space: encode, decode, traverse, interpolate, sample, classify.

Pure functions over a model and numpy arrays. Each runs under `torch.no_grad()` with the
model in eval mode, in batches, on whatever device the model sits on, and returns numpy.
Images are float32 (N, C, H, W) intensities in [0, 1]; codes are float32 (N, D).
They run on torch's threads as the process has set them (the app's server sets one intra-op
thread, once, before its first model loads); nothing here changes them.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch import nn

from explorer.analysis.errors import AnalysisError
from explorer.core.finite import non_finite_count
from explorer.core.kinds import is_conditional
from explorer.models import bernoulli_nll


# ---------------------------------------------------------------- helpers

def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _labels_for(model: nn.Module, labels, n: int) -> np.ndarray | None:
    """Per-row int64 labels for a conditional model (an int is broadcast); None otherwise."""
    if not is_conditional(model):
        return None
    k = model.cfg.num_classes
    if labels is None:
        raise ValueError(f"a conditional VAE needs class labels (0..{k - 1}): one int, or one per image or code")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.ndim == 0:
        labels = np.full(n, int(labels), dtype=np.int64)
    if labels.shape != (n,):
        raise ValueError(f"expected {n} labels, got an array of shape {labels.shape}")
    if n and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"labels must be in 0..{k - 1}, got values from {labels.min()} to {labels.max()}")
    return labels


def batches(x: np.ndarray, y: np.ndarray | None, batch_size: int,
             device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Tensors of `batch_size` rows on `device`; uint8 pixels become float32 in [0, 1] a batch at a time."""
    for i in range(0, len(x), batch_size):
        xb = torch.as_tensor(np.ascontiguousarray(x[i:i + batch_size]), device=device)
        xb = xb.float().div_(255) if xb.dtype == torch.uint8 else xb.float()
        yb = None if y is None else torch.as_tensor(y[i:i + batch_size], dtype=torch.long, device=device)
        yield xb, yb


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.float().cpu().numpy()


def _image_shape(model: nn.Module) -> tuple[int, int, int]:
    return tuple(model.cfg.image_shape)


def _check_images(model: nn.Module, images) -> np.ndarray:
    """float32 images, or uint8 pixels (0..255, kept as they are: `batches` converts them), of
    the model's shape and finite."""
    images = np.asarray(images)
    images = images if images.dtype == np.uint8 else images.astype(np.float32, copy=False)
    shape = _image_shape(model)
    if images.ndim != 4 or tuple(images.shape[1:]) != shape:
        raise ValueError(f"images must have shape (N, {', '.join(map(str, shape))}) for this model, got {images.shape}")
    if non_finite_count(images):
        raise AnalysisError(f"the images hold {non_finite_count(images):,} NaN or infinite values; "
                            "give intensities in [0, 1]")
    return images


def _finite_output(model: nn.Module, out: np.ndarray, what: str) -> np.ndarray:
    """`out` when every value is finite; else AnalysisError: the model, not the input, is at fault."""
    bad = non_finite_count(out)
    if bad:
        raise AnalysisError(f"the {model.cfg.kind} model produced {bad:,} non-finite {what} (NaN or infinity); "
                            "its weights are damaged or its training diverged: retrain it or load another checkpoint")
    return out


# ---------------------------------------------------------------- encode / decode

@torch.no_grad()
def encode(model: nn.Module, images: np.ndarray, labels=None,
           batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and log-variance of q(z|x), each float32 (N, D).

    `labels` are used only by a conditional model (cvae), which needs them."""
    model.eval()
    images = _check_images(model, images)
    y = _labels_for(model, labels, len(images))
    mus, logvars = [], []
    for xb, yb in batches(images, y, batch_size, model_device(model)):
        mu, logvar = model.encode(xb, yb)
        mus.append(_numpy(mu))
        logvars.append(_numpy(logvar))
    if not mus:
        d = model.cfg.latent_dim
        return np.zeros((0, d), np.float32), np.zeros((0, d), np.float32)
    mu, logvar = np.concatenate(mus), np.concatenate(logvars)
    return _finite_output(model, mu, "codes"), _finite_output(model, logvar, "log-variances")


@torch.no_grad()
def _decode_logits(model: nn.Module, z: np.ndarray, labels=None, batch_size: int = 1000) -> Iterator[torch.Tensor]:
    z = np.asarray(z, dtype=np.float32)
    if z.ndim != 2 or z.shape[1] != model.cfg.latent_dim:
        raise ValueError(f"codes must have shape (N, {model.cfg.latent_dim}), got {z.shape}")
    if non_finite_count(z):
        raise AnalysisError(f"the codes hold {non_finite_count(z):,} NaN or infinite values; give finite codes")
    y = _labels_for(model, labels, len(z))
    for zb, yb in batches(z, y, batch_size, model_device(model)):
        yield model.decode(zb, yb)


@torch.no_grad()
def decode(model: nn.Module, z: np.ndarray, labels=None, batch_size: int = 1000) -> np.ndarray:
    """Decoder mean images sigmoid(logits), float32 (N, C, H, W) in [0, 1].

    `labels` (cvae only) may be one int for every code or an array of N ints."""
    model.eval()
    out = [_numpy(torch.sigmoid(logits)) for logits in _decode_logits(model, z, labels, batch_size)]
    return _finite_output(model, np.concatenate(out), "pixels") if out else np.zeros((0, *_image_shape(model)), np.float32)


def reconstruct(model: nn.Module, images: np.ndarray, labels=None) -> np.ndarray:
    """The decoded posterior mean of each image: decode(encode(x).mu), (N, C, H, W)."""
    mu, _ = encode(model, images, labels)
    return decode(model, mu, labels)


@torch.no_grad()
def recon_error(model: nn.Module, images: np.ndarray, labels=None, batch_size: int = 1000) -> np.ndarray:
    """-log p(x | z = mu) per image in nats (Bernoulli NLL of the mean reconstruction), float32 (N,)."""
    images = _check_images(model, images)
    mu, _ = encode(model, images, labels, batch_size)
    out, start = [], 0
    dev = model_device(model)
    for logits in _decode_logits(model, mu, labels, batch_size):
        xb = next(batches(images[start:start + len(logits)], None, len(logits), dev))[0]
        out.append(_numpy(bernoulli_nll(logits, xb)))
        start += len(logits)
    return np.concatenate(out) if out else np.zeros(0, np.float32)


# ---------------------------------------------------------------- which dimensions matter

def kl_per_dim(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Mean KL(q(z_d|x) || N(0, 1)) of each latent dimension over the data, (D,) nats.

    Per dimension: -0.5 * (1 + log sigma^2 - mu^2 - sigma^2). A dimension whose KL is
    near 0 has collapsed to the prior: the decoder ignores it."""
    mu = np.asarray(mu, dtype=np.float64)
    logvar = np.asarray(logvar, dtype=np.float64)
    return (-0.5 * (1.0 + logvar - mu ** 2 - np.exp(logvar))).mean(axis=0)


def active_order(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Latent dimensions sorted from the most to the least active (KL descending), (D,) int64."""
    return np.argsort(-kl_per_dim(mu, logvar), kind="stable").astype(np.int64)


# ---------------------------------------------------------------- traverse / interpolate / sample

def traverse(model: nn.Module, base_z: np.ndarray, dims, values, label=None) -> np.ndarray:
    """Decoded traversal grid (len(dims), len(values), C, H, W).

    Row i is `base_z` with dimension dims[i] set to each of `values` in turn (absolute
    latent coordinates, not offsets). `values` may also be 2-D, (len(dims), V): one row of
    values per dimension, e.g. each dimension's own -3..+3 standard deviations."""
    base_z = np.asarray(base_z, dtype=np.float32).reshape(-1)
    dims = np.asarray(dims, dtype=np.int64).reshape(-1)
    d = model.cfg.latent_dim
    if base_z.shape != (d,):
        raise ValueError(f"base_z must have {d} entries, got {base_z.shape[0]}")
    if len(dims) and (dims.min() < 0 or dims.max() >= d):
        raise ValueError(f"dims must be in 0..{d - 1}, got {dims.tolist()}")
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 1:
        values = np.broadcast_to(values, (len(dims), len(values)))
    if values.ndim != 2 or values.shape[0] != len(dims):
        raise ValueError(f"values must be (V,) or (len(dims), V), got {values.shape}")
    r, v = values.shape
    codes = traversal_codes(base_z, dims, values)
    images = decode(model, codes.reshape(r * v, d), label)
    return images.reshape(r, v, *images.shape[1:])


def traversal_codes(base_z: np.ndarray, dims, values) -> np.ndarray:
    """The codes of a traversal grid, (len(dims), V, D) float32: row i is `base_z` with
    dimension dims[i] set to each of values[i] (see `traverse`, which decodes them)."""
    base_z = np.asarray(base_z, dtype=np.float32).reshape(-1)
    dims = np.asarray(dims, dtype=np.int64).reshape(-1)
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 1:
        values = np.broadcast_to(values, (len(dims), len(values)))
    r, v = values.shape
    codes = np.repeat(base_z[None, None, :], r, axis=0).repeat(v, axis=1)  # (R, V, D)
    codes[np.arange(r)[:, None], np.arange(v)[None, :], dims[:, None]] = values
    return codes


def traversal_values(mu: np.ndarray, dim: int, n: int = 7, span: float = 3.0) -> np.ndarray:
    """n values from mean - span*std to mean + span*std of dimension `dim` over the data's
    posterior means `mu` (N, D). Where the means do not vary (std ~ 0), the prior's std 1
    is used instead, so a slider over them still has a range."""
    return span_values(_span(np.asarray(mu)[:, dim], span), n)


def span_values(ends, n: int) -> np.ndarray:
    """n values evenly from ends[0] to ends[1], float32: a traversal over one row of
    `traversal_spans` (what `traversal_values` gives for that dimension)."""
    return np.linspace(float(ends[0]), float(ends[1]), n).astype(np.float32)


def traversal_spans(mu: np.ndarray, span: float = 3.0) -> np.ndarray:
    """The ends of every dimension's traversal, (D, 2) float64: `traversal_values(mu, d, n, span)`
    is np.linspace(*spans[d], n) as float32."""
    mu = np.asarray(mu)
    return np.array([_span(mu[:, d], span) for d in range(mu.shape[1])], dtype=np.float64).reshape(-1, 2)


def _span(col: np.ndarray, span: float) -> tuple[float, float]:
    col = np.asarray(col, dtype=np.float64)
    mean = float(col.mean()) if len(col) else 0.0
    std = float(col.std()) if len(col) else 0.0
    if not np.isfinite(std) or std < 1e-6:
        std = 1.0
    return mean - span * std, mean + span * std


def interpolate(z0: np.ndarray, z1: np.ndarray, steps: int, method: str = "linear") -> np.ndarray:
    """`steps` codes from z0 to z1, both ends included, (steps, D) float32.

    "linear": (1 - t) z0 + t z1. "slerp": spherical interpolation (Shoemake 1985; White 2016
    for generative models), sin((1-t) w)/sin w * z0 + sin(t w)/sin w * z1 with w the angle
    between z0 and z1; it keeps the norm for endpoints of equal norm, so the path stays in the
    prior's typical shell. For (anti)parallel or zero vectors the angle is undefined and
    slerp falls back to linear."""
    z0 = np.asarray(z0, dtype=np.float64).reshape(-1)
    z1 = np.asarray(z1, dtype=np.float64).reshape(-1)
    if z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must have the same size, got {z0.shape} and {z1.shape}")
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (both ends), got {steps}")
    if method not in ("linear", "slerp"):
        raise ValueError(f"method must be 'linear' or 'slerp', got {method!r}")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    path = (1 - t) * z0 + t * z1
    if method == "slerp":
        n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
        if n0 > 1e-12 and n1 > 1e-12:
            omega = np.arccos(np.clip(z0 @ z1 / (n0 * n1), -1.0, 1.0))
            if np.sin(omega) > 1e-6:
                path = (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)
    path[0], path[-1] = z0, z1
    return path.astype(np.float32)


def sample_prior(model: nn.Module, n: int, label=None, seed: int = 0,
                 temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """n codes z ~ N(0, temperature^2 I) (seeded) and their decoded images: (images, z).

    A cvae needs `label`, the class to generate (one int, or one per sample)."""
    z = prior_codes(model.cfg.latent_dim, n, seed, temperature)
    return decode(model, z, label), z


def prior_codes(latent_dim: int, n: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
    """The n codes `sample_prior` decodes: z ~ N(0, temperature^2 I), seeded, (n, latent_dim) float32."""
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    return (torch.randn(n, latent_dim, generator=g) * float(temperature)).numpy()


def class_means(mu: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Mean code of each class, (K, D) float32; a class with no points gets the origin."""
    mu = np.asarray(mu, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    sums = np.zeros((num_classes, mu.shape[1]))
    np.add.at(sums, labels, mu)
    counts = np.bincount(labels, minlength=num_classes)[:num_classes]
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)


# ---------------------------------------------------------------- judge with the CNN

@torch.no_grad()
def classify(model: nn.Module, images: np.ndarray, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class int64 (N,) and class probabilities float32 (N, K) from a classifier
    or a hybrid's head."""
    if not hasattr(model, "classify"):
        raise ValueError(f"a {model.cfg.kind} model has no classifier; use a classifier or hybrid checkpoint")
    model.eval()
    images = _check_images(model, images)
    out = [_numpy(torch.softmax(model.classify(xb).float(), dim=1))
           for xb, _ in batches(images, None, batch_size, model_device(model))]
    proba = np.concatenate(out) if out else np.zeros((0, model.cfg.num_classes), np.float32)
    _finite_output(model, proba, "class probabilities")
    return proba.argmax(1).astype(np.int64), proba


def label_changes(preds) -> list[int]:
    """Indices i where preds[i] != preds[i - 1]: where a path crosses a class boundary."""
    preds = np.asarray(preds)
    return [int(i) for i in np.flatnonzero(preds[1:] != preds[:-1]) + 1]


def nearest(latents: np.ndarray, query: np.ndarray, k: int = 8) -> np.ndarray:
    """Indices of the k rows of `latents` nearest to `query` (Euclidean), nearest first.

    A query of shape (D,) gives (k,); a batch (M, D) gives (M, k)."""
    latents = np.asarray(latents, dtype=np.float64)
    q = np.asarray(query, dtype=np.float64)
    single = q.ndim == 1
    q = np.atleast_2d(q)
    k = max(0, min(int(k), len(latents)))
    d2 = (q ** 2).sum(1)[:, None] + (latents ** 2).sum(1)[None, :] - 2 * q @ latents.T  # (M, N)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k].astype(np.int64)
    return idx[0] if single else idx


__all__ = [
    "encode", "decode", "reconstruct", "recon_error", "kl_per_dim", "active_order", "traverse",
    "traversal_codes", "traversal_values", "traversal_spans", "span_values", "interpolate", "sample_prior",
    "prior_codes", "class_means", "classify", "label_changes", "nearest",
]
