"""Nearest-neighbour placement between the latent space and a map, both ways.

`projection.place` puts new codes on a UMAP or t-SNE map (codes -> positions) and
`regions.unplace` turns map positions back into codes (positions -> codes) the same way:
each query gets the inverse-distance-weighted mean of the values at its k nearest points
(`nearest` names those points, for a new point shown beside its neighbours).
No fitted model is kept or unpickled; a query equal to a point lands exactly on its value.
"""
from __future__ import annotations

import numpy as np

BLOCK = 256  # queries per (BLOCK, N) distance block: bounded memory for any number of queries


def nearest(queries: np.ndarray, points: np.ndarray, k: int = 10) -> np.ndarray:
    """(M, k) int64: for each of the queries (M, D), the indices of its k nearest `points` (N, D),
    nearest first."""
    q_all = np.atleast_2d(np.asarray(queries, dtype=np.float64))
    ref = np.asarray(points, dtype=np.float64)
    k = max(1, min(int(k), len(ref)))
    out = np.empty((len(q_all), k), dtype=np.int64)
    ref_sq = (ref ** 2).sum(1)
    for start in range(0, len(q_all), BLOCK):
        q = q_all[start:start + BLOCK]
        d2 = np.maximum((q ** 2).sum(1)[:, None] + ref_sq[None, :] - 2 * q @ ref.T, 0.0)
        out[start:start + len(q)] = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return out


def nearest_mean(queries: np.ndarray, points: np.ndarray, values: np.ndarray, k: int = 10) -> np.ndarray:
    """(M, V) float64: for each of the queries (M, D), the inverse-distance-weighted mean of
    `values` (N, V) at its k nearest `points` (N, D)."""
    q_all = np.atleast_2d(np.asarray(queries, dtype=np.float64))
    ref = np.asarray(points, dtype=np.float64)
    vals = np.asarray(values)  # (N, V) as given; the k rows each query uses are widened to float64
    k = max(1, min(int(k), len(ref)))
    out = np.empty((len(q_all), vals.shape[1]))
    ref_sq = (ref ** 2).sum(1)
    for start in range(0, len(q_all), BLOCK):
        q = q_all[start:start + BLOCK]
        d2 = np.maximum((q ** 2).sum(1)[:, None] + ref_sq[None, :] - 2 * q @ ref.T, 0.0)
        idx = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < len(ref) else np.tile(np.arange(len(ref)), (len(q), 1))
        d = np.linalg.norm(ref[idx] - q[:, None, :], axis=2)        # (m, k) exact, for the k chosen
        w = 1.0 / np.maximum(d, 1e-12)                                # an exact match wins outright
        out[start:start + len(q)] = (w[:, :, None] * vals[idx].astype(np.float64)).sum(1) / w.sum(1, keepdims=True)
    return out
