"""UMAP and t-SNE on a GPU with RAPIDS cuML, when it is installed and a CUDA device is there.

An optional extra, never required: without cuML (or without a GPU) `available()` is False and
the maps are computed on the CPU (umap_layout.py, tsne.py), the tested default. cuML's maps are
not ours bit for bit, so projection.cache_key names the backend, and a map made on a GPU is never
served as the CPU's. Written against cuML's documented `cuml.manifold.UMAP` and `TSNE`
(n_neighbors, min_dist, perplexity, random_state; fit_transform of a float32 array).
"""
from __future__ import annotations

import functools

import numpy as np

from explorer.maps.errors import ProjectionError

BACKENDS = ("auto", "cpu", "cuml")


@functools.cache
def available() -> bool:
    """Whether cuML imports and sees a CUDA device (asked once per process)."""
    try:
        import cupy
        import cuml  # noqa: F401  (the check is that it imports)
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # not installed, no driver, no device: the CPU path
        return False


def where(backend: str, method: str) -> str:
    """Where `method` runs for a requested backend: "cuml" for UMAP and t-SNE when asked for it
    or, with "auto", when available(); else "cpu" (PCA and the plane always)."""
    if backend not in BACKENDS:
        raise ProjectionError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if method not in ("umap", "tsne") or backend == "cpu":
        return "cpu"
    if backend == "auto":
        return "cuml" if available() else "cpu"
    if not available():
        raise ProjectionError("backend 'cuml' needs RAPIDS cuML and a CUDA GPU; neither is here together: "
                              "install cuML (see rapids.ai) on a machine with a GPU, or use the CPU backend")
    return "cuml"


def gpu_map(x: np.ndarray, method: str, params: dict, seed: int) -> np.ndarray:
    """The UMAP or t-SNE map of x on the GPU; ProjectionError when cuML fails."""
    try:
        if method == "umap":
            return umap_map(x, params["n_neighbors"], params["min_dist"], seed)
        return tsne_map(x, params["perplexity"], seed)
    except Exception as e:  # anything inside cuML or CUDA
        raise ProjectionError(f"{method} on the GPU failed ({type(e).__name__}: {e}); try the CPU backend") from e


def umap_map(x: np.ndarray, n_neighbors: int, min_dist: float, seed: int) -> np.ndarray:
    from cuml.manifold import UMAP

    y = UMAP(n_neighbors=int(n_neighbors), min_dist=float(min_dist), n_components=2,
             random_state=int(seed)).fit_transform(np.ascontiguousarray(x, dtype=np.float32))
    return _host(y)


def tsne_map(x: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    from cuml.manifold import TSNE

    y = TSNE(n_components=2, perplexity=float(perplexity), random_state=int(seed),
             method="fft").fit_transform(np.ascontiguousarray(x, dtype=np.float32))
    return _host(y)


def _host(y) -> np.ndarray:
    """A cuML result (cupy, or numpy with cuML's output type) as a numpy (N, 2) float32 array."""
    get = getattr(y, "get", None)
    return np.asarray(get() if callable(get) else y, dtype=np.float32)
