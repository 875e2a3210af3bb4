"""Where the CNN draws its class boundaries on a map, and where it disagrees.

    regions(vae, judge, projection, latents, n) -> Regions
        every point of an n x n grid over the map turned back into a latent code, decoded,
        and labelled by the classifier: the map's background shaded by the CNN's verdict.
    disagreements(labels, pred, recon_pred) -> Disagreements
        test images the CNN gets wrong, and those whose reconstruction it labels differently.

Turning a map position back into a latent code (`unplace`, the inverse of
`projection.place`):

- a 2-D latent shown as its own plane ("identity"): the position *is* the code (exact);
- pca: the code on the plane of the two principal axes through the mean (exact on that
  plane; the other directions are held at the mean);
- umap and tsne: an approximation, the inverse-distance-weighted mean of the codes of the k
  test points nearest on the map. umap-learn's own `inverse_transform` needs the fitted
  UMAP object (its graph and training data), which the map cache does not keep: it stores
  the 2-D positions only, so nothing is ever unpickled. `refit_umap` gets it back: it
  computes the map again from the same codes, settings and seed, checks that this
  reproduces the cached map, and builds umap-learn's model around it
  (projection.umap_model: umap-learn's graph of the codes, the map as its embedding);
  `regions(..., reducer=...)` then uses umap-learn's inverse_transform. That is slower
  and still an approximation (many codes land on one spot of a 2-D map); its first step
  is the same kind of weighted average of nearby training codes as the fast way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from explorer.core.kinds import condition
from explorer.maps.placement import nearest_mean
from explorer.maps.projection import PLANE, Projection, ProjectionError, project, umap_model

if TYPE_CHECKING:  # torch is imported where a model runs: the Map page's first drawing needs none
    from torch import nn

EXACT = {PLANE: "exact: the map is the latent plane itself",
         "pca": "each background point is the code on the plane of the two principal axes"}
_TITLES = {"umap": "UMAP", "tsne": "t-SNE"}


@dataclass(frozen=True)
class Regions:
    xs: np.ndarray          # (n,) grid x positions, ascending
    ys: np.ndarray          # (n,) grid y positions, ascending
    classes: np.ndarray     # (n, n) int64: the classifier's label at (ys[r], xs[c])
    confidence: np.ndarray  # (n, n) float32: its probability for that label
    exact: bool             # False when the codes behind the grid are approximated
    how: str                # one line saying how map positions became codes


@dataclass(frozen=True)
class Disagreements:
    wrong: np.ndarray       # (N,) bool: the CNN's label differs from the true label
    relabelled: np.ndarray  # (N,) bool: the CNN labels the reconstruction differently from the original


def extent(coords: np.ndarray, pad: float = 0.05) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) around the map's points with `pad` of its size on every side."""
    c = np.asarray(coords, dtype=np.float64)
    lo, hi = c.min(0), c.max(0)
    span = np.maximum(hi - lo, 1e-6)
    return (float(lo[0] - pad * span[0]), float(hi[0] + pad * span[0]),
            float(lo[1] - pad * span[1]), float(hi[1] + pad * span[1]))


def grid(box: tuple[float, float, float, float], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xs (n,), ys (n,) and the (n * n, 2) points, row r holding y = ys[r]."""
    if n < 2:
        raise ValueError(f"a region grid needs at least 2 points a side, got {n}")
    x0, x1, y0, y1 = box
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, np.stack([gx.ravel(), gy.ravel()], axis=1)


def unplace(projection: Projection, latents: np.ndarray, xy: np.ndarray, k: int = 10) -> np.ndarray:
    """Latent codes (M, D) for map positions (M, 2); see the module docstring for how exact."""
    xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))
    if projection.method == PLANE:
        return xy.astype(np.float32)
    if projection.method == "pca":
        if projection.mean is None or projection.components is None:
            raise ProjectionError("this PCA map has no stored axes; compute it again with project()")
        return (np.asarray(projection.mean, np.float64) + xy @ np.asarray(projection.components, np.float64)
                ).astype(np.float32)
    codes = np.asarray(latents, dtype=np.float64)
    coords = np.asarray(projection.coords, dtype=np.float64)
    if len(codes) != len(coords):
        raise ProjectionError(f"unplace() needs the {len(coords)} codes the map was made of, got {len(codes)}")
    return nearest_mean(xy, coords, codes, k).astype(np.float32)


def refit_umap(latents: np.ndarray, projection: Projection, tolerance: float = 0.01):
    """The fitted umap.UMAP behind a cached UMAP map (slow: umap-learn's compile on first use).

    Raises ProjectionError when computing the map again does not reproduce it (another
    version of the app's UMAP or of numba, another machine's arithmetic, other codes): an
    inverse of a different map would mislead. `tolerance` is a fraction of the map's size."""
    if projection.method != "umap":
        raise ProjectionError(f"refit_umap needs a UMAP map, not {projection.method}")
    x = np.ascontiguousarray(latents, dtype=np.float32)
    if len(x) != len(projection.coords):
        raise ProjectionError(f"the map was made of {len(projection.coords)} codes, got {len(x)}")
    refit = project(x, "umap", projection.params, projection.seed).coords
    size = float(np.ptp(projection.coords, axis=0).max()) or 1.0
    off = float(np.abs(refit - projection.coords).max()) / size
    if off > tolerance:
        raise ProjectionError(f"refitting UMAP did not reproduce this map (points moved by up to {off:.0%} of its "
                              "size: another version of the app's UMAP or of numba made it); recompute the map first")
    return umap_model(x, projection.coords, projection.params, projection.seed)


def regions(vae: nn.Module, judge: nn.Module, projection: Projection, latents: np.ndarray, n: int = 60,
            box: tuple[float, float, float, float] | None = None, label: int | None = None, k: int = 10,
            reducer=None) -> Regions:
    """The classifier's label for the decoded code behind every point of an n x n grid over the map.

    `label` is the class a conditional VAE decodes as (required for a cvae, ignored otherwise).
    `reducer`: a UMAP map's refit model (refit_umap), to turn positions into codes with
    umap-learn's inverse_transform instead of the nearest test codes."""
    box = box or extent(projection.coords)
    xs, ys, pts = grid(box, n)
    if reducer is not None:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            codes = np.asarray(reducer.inverse_transform(pts), dtype=np.float32)
    else:
        codes = unplace(projection, latents, pts, k)
    from explorer.analysis import latent
    decoded = latent.decode(vae, codes, condition(vae, label))
    pred, proba = latent.classify(judge, decoded)
    conf = proba[np.arange(len(pred)), pred]
    method = projection.method
    how = EXACT.get(method, f"approximate: each background point is the distance-weighted mean of the codes of its "
                            f"{k} nearest test points on the {_TITLES.get(method, method)} map")
    if reducer is not None:
        how = "approximate: umap-learn's inverse_transform of the refit UMAP turned each background point into a code"
    return Regions(xs=xs, ys=ys, classes=pred.reshape(n, n), confidence=conf.reshape(n, n).astype(np.float32),
                   exact=method in EXACT, how=how)


def recon_predictions(vae: nn.Module, judge: nn.Module, images: np.ndarray, labels=None) -> np.ndarray:
    """The classifier's label for each image's reconstruction, (N,) int64 (`labels`: a cvae's condition)."""
    from explorer.analysis import latent
    cond = condition(vae, labels)
    out = []
    for i in range(0, len(images), 2000):  # bounded memory: reconstructions are as big as the images
        rec = latent.reconstruct(vae, images[i:i + 2000], None if cond is None else cond[i:i + 2000])
        out.append(latent.classify(judge, rec)[0])
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def disagreements(labels: np.ndarray, pred: np.ndarray, recon_pred: np.ndarray) -> Disagreements:
    """Which test images the CNN gets wrong, and which it relabels once reconstructed."""
    labels, pred, recon_pred = (np.asarray(a, dtype=np.int64) for a in (labels, pred, recon_pred))
    if not (labels.shape == pred.shape == recon_pred.shape):
        raise ValueError(f"labels, predictions and reconstruction predictions must match: "
                         f"{labels.shape}, {pred.shape}, {recon_pred.shape}")
    return Disagreements(wrong=pred != labels, relabelled=recon_pred != pred)


__all__ = ["Regions", "Disagreements", "extent", "grid", "unplace", "regions", "refit_umap", "recon_predictions",
           "disagreements"]
