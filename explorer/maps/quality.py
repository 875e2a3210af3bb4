"""How faithful a 2-D map is to the latent space it was made from (the bench's quality figure)."""
from __future__ import annotations

import numpy as np

TRUST_MAX_POINTS = 2000


def trustworthiness(latents: np.ndarray, coords: np.ndarray, k: int = 10, max_points: int = TRUST_MAX_POINTS,
                    seed: int = 0) -> float:
    """How well the map keeps each point's k nearest neighbours (Venna & Kaski 2001), in [0, 1];
    1 means no point on the map has a neighbour that was not near it in the latent space.
    Computed on a seeded random subsample of at most `max_points` points."""
    from sklearn.manifold import trustworthiness as sk_trustworthiness

    x = np.asarray(latents, dtype=np.float64)
    y = np.asarray(coords, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"latents ({len(x)}) and coords ({len(y)}) must have the same number of points")
    if len(x) > max_points:
        keep = np.random.default_rng(seed).choice(len(x), max_points, replace=False)
        x, y = x[keep], y[keep]
    k = min(int(k), (len(x) - 1) // 2)  # sklearn needs k < n / 2
    if k < 1:
        return float("nan")
    return float(sk_trustworthiness(x, y, n_neighbors=k))


def neighbour_recall(latents: np.ndarray, coords: np.ndarray, k: int = 15, queries: int = 2000,
                     seed: int = 0) -> float:
    """The share of each point's k nearest neighbours in the latent space, among all points,
    that are also among its k nearest on the map, averaged over a seeded random sample of
    `queries` points: the finest scale, where a subsample's trustworthiness cannot look."""
    from scipy.spatial import cKDTree

    x = np.asarray(latents, dtype=np.float64)
    y = np.asarray(coords, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"latents ({len(x)}) and coords ({len(y)}) must have the same number of points")
    k = min(int(k), len(x) - 1)
    if k < 1:
        return float("nan")
    pick = np.random.default_rng(seed).choice(len(x), min(int(queries), len(x)), replace=False)
    near_x = _others(cKDTree(x).query(x[pick], k + 1)[1], pick, k)
    near_y = _others(cKDTree(y).query(y[pick], k + 1)[1], pick, k)
    return float(np.mean([len(set(a) & set(b)) for a, b in zip(near_x, near_y)]) / k)


def _others(near: np.ndarray, pick: np.ndarray, k: int) -> list[list[int]]:
    """Each row's k nearest other points: the point itself dropped where the search returned it,
    else the farthest (among equal points the point itself may be left out)."""
    return [[int(i) for i in row if i != p][:k] for row, p in zip(near, pick)]
