"""2-D maps of latent codes: one projection function with one on-disk cache.

    project(latents, "umap" | "tsne" | "pca", params, seed, cache_dir) -> Projection

A map is computed once per set of latents, method, parameters and seed, and stored as
`<cache_dir>/<method>-<key>.npz` (plain arrays and strings, loaded with allow_pickle=False) by
one process at a time (core/diskcache.once: whichever server replica asks first computes it,
the others wait). The app passes `<checkpoint>/projections`, so a checkpoint carries its maps.
UMAP is the app's own (maps/umap_layout.py: umap-learn's algorithm without its start-up cost);
t-SNE is openTSNE's; both, and numba, are imported only when a map is computed. The key holds
each method's ALGORITHM_VERSION, so a map made by an older way of computing it is made again.

A model with a 2-D latent needs no projection: method "identity" returns the codes.
"""
from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from explorer.core import diskcache
from explorer.maps import gpu, tsne
from explorer.maps.errors import ProjectionError
from explorer.maps.placement import nearest, nearest_mean

METHODS: tuple[str, ...] = ("umap", "tsne", "pca")
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "umap": {"n_neighbors": 15, "min_dist": 0.1},
    "tsne": {"perplexity": 30},
    "pca": {},
}
PLANE = "identity"  # a 2-D latent shown as its own plane (the name is in cache keys and files: kept)
# Each method's algorithm version, part of every cache key: bumped when the way that method
# computes its map changes, so maps cached (or shipped) by the old way are not served as new.
# umap 2: explorer/maps/umap_layout.py instead of umap-learn; tsne 2: openTSNE with a coarser FFT
# grid, more interpolation points, and 250 iterations after the early exaggeration, not 500.
ALGORITHM_VERSION: dict[str, int] = {"umap": 2, "tsne": 2, "pca": 1, "identity": 1}
LARGE_UMAP_VERSION = 3  # a UMAP map of umap_layout.PARALLEL_FROM points or more (maps/umap_large.py)


def algorithm_version(method: str, n: int) -> int:
    """The version of the way `method` maps n points: ALGORITHM_VERSION, but for large UMAP maps."""
    from explorer.maps.umap_layout import PARALLEL_FROM

    return LARGE_UMAP_VERSION if method == "umap" and n >= PARALLEL_FROM else ALGORITHM_VERSION[method]


@dataclass
class Projection:
    coords: np.ndarray              # (N, 2) float32 map positions
    method: str                     # "umap" | "tsne" | "pca" | "identity"
    params: dict[str, Any]          # the method's parameters, defaults filled in
    key: str                        # cache key: 16 hex chars of sha256
    seconds: float                  # time the computation took (when it was computed)
    from_cache: bool                # True when read from disk
    seed: int = 0
    mean: np.ndarray | None = None        # pca: (D,) centre of the latents
    components: np.ndarray | None = None  # pca: (2, D) principal axes, rows
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. explained_variance for pca


# ---------------------------------------------------------------- parameters and keys

def _check_latents(latents) -> np.ndarray:
    x = np.asarray(latents)
    if x.ndim != 2:
        raise ProjectionError(f"latents must be a 2-D array (N points, D dimensions), got shape {x.shape}")
    if len(x) == 0:
        raise ProjectionError("there are no latent codes to project (N = 0)")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ProjectionError("the latent codes contain NaN or infinite values; the model may have diverged")
    return x


def check_params(method: str, params: dict | None, n: int) -> dict[str, Any]:
    """`params` with defaults filled in and types fixed; ProjectionError if out of range for n points."""
    if method == PLANE:
        if params:
            raise ProjectionError(f"method 'identity' takes no parameters, got {sorted(params)}")
        return {}
    if method not in METHODS:
        raise ProjectionError(f"unknown projection method {method!r}; choose one of {', '.join(METHODS)}"
                              " (or 'identity' for a 2-D latent)")
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULT_PARAMS[method]))
    if unknown:
        allowed = ", ".join(DEFAULT_PARAMS[method]) or "none"
        raise ProjectionError(f"{method} has no parameter(s) {', '.join(unknown)}; its parameters: {allowed}")
    p = {**DEFAULT_PARAMS[method], **params}
    try:
        if method == "umap":
            p = {"n_neighbors": int(p["n_neighbors"]), "min_dist": float(p["min_dist"])}
        elif method == "tsne":
            p = {"perplexity": float(p["perplexity"])}
    except (TypeError, ValueError) as e:
        raise ProjectionError(f"{method} parameters must be numbers, got {params} ({e})") from e
    if method == "umap":
        if n < 3:
            raise ProjectionError(f"UMAP needs at least 3 points, got {n}")
        if not 2 <= p["n_neighbors"] <= n - 1:
            raise ProjectionError(f"UMAP n_neighbors must be between 2 and N - 1 = {n - 1} "
                                  f"(N = {n} points), got {p['n_neighbors']}")
        if not 0.0 <= p["min_dist"] <= 1.0:
            raise ProjectionError(f"UMAP min_dist must be between 0 and 1, got {p['min_dist']}")
    elif method == "tsne":
        if n < 4:
            raise ProjectionError(f"t-SNE needs at least 4 points, got {n}")
        if not (1.0 <= p["perplexity"] < n / 3):
            raise ProjectionError(f"t-SNE perplexity must be at least 1 and less than N / 3 = {n / 3:.4g} "
                                  f"(N = {n} points), got {p['perplexity']:g}")
        if p["perplexity"] == int(p["perplexity"]):  # 30 and 30.0 are one map, one key
            p["perplexity"] = int(p["perplexity"])
    return dict(sorted(p.items()))  # the order a cached map's params come back in


def _data_parts(x: np.ndarray) -> tuple:
    return x, diskcache.array_header(x)  # bytes first, then shape and dtype: the keys maps were shipped with


def cache_key(latents: np.ndarray, method: str, params: dict, seed: int, backend: str = "cpu") -> str:
    """16 hex chars of sha256 over the latents (bytes, shape, dtype), method, sorted params, seed
    and the method's ALGORITHM_VERSION; a map made on a GPU (backend "cuml") has keys of its own."""
    gpu_part = {"backend": backend} if backend != "cpu" else {}  # the CPU's keys as they were shipped
    return diskcache.key(*_data_parts(latents), {"method": method, "params": params, "seed": int(seed),
                                                 "version": algorithm_version(method, len(latents)), **gpu_part})


def data_key(latents: np.ndarray) -> str:
    """16 hex chars of sha256 over the latents alone: which codes a cached map is of."""
    return diskcache.key(*_data_parts(np.ascontiguousarray(latents, dtype=np.float32)))


# ---------------------------------------------------------------- project

def cache_path(cache_dir: str | os.PathLike, method: str, key: str) -> Path:
    """The file a map of `method` with cache key `key` is kept in."""
    return Path(cache_dir) / f"{method}-{key}.npz"


def cache_pattern(method: str) -> str:
    """The glob pattern of every cached map of `method` in a cache dir."""
    return f"{method}-*.npz"


def project(latents: np.ndarray, method: str, params: dict | None = None, seed: int = 0,
            cache_dir: str | os.PathLike | None = None, *, leave_a_core: bool = False,
            backend: str = "auto") -> Projection:
    """Map latent codes (N, D) to 2-D with UMAP, t-SNE or PCA, reading and writing the cache.
    `leave_a_core`: t-SNE and a large UMAP map leave one core to the rest of the process (the app's other
    sessions); the CLI, a notebook or the bench use every idle core. The map is the same.
    `backend`: "auto" runs UMAP and t-SNE on a GPU with cuML when it is there (maps/gpu.py),
    else on the CPU; "cpu" always on the CPU; "cuml" on the GPU or a ProjectionError.

    Raises ProjectionError for parameters the method cannot use (the message gives the
    allowed range) and for any failure inside umap or openTSNE."""
    x, params, where, key = _keyed(latents, method, params, seed, backend)
    if method == PLANE:
        if x.shape[1] != 2:
            raise ProjectionError(f"method 'identity' shows a 2-D latent as its own plane; these codes are "
                                  f"{x.shape[1]}-D, so choose one of {', '.join(METHODS)}")
        return Projection(coords=x.copy(), method=method, params={}, key=key, seconds=0.0, from_cache=False,
                          seed=seed)
    if cache_dir is None:
        return _compute(x, method, params, key, seed, leave_a_core, where)
    path = cache_path(cache_dir, method, key)

    def cached() -> Projection | None:
        found = _read(path) if path.is_file() else None
        return found if found is not None and found.key == key and found.coords.shape == (len(x), 2) else None

    def make() -> Projection:
        proj = _compute(x, method, params, key, seed, leave_a_core, where)
        try:
            _write(path, proj, data_key(x))
        except OSError as e:  # a read-only checkpoint still gets its map, just not cached
            proj.extra["cache_error"] = f"could not write {path}: {e}"
        return proj

    # once: replicas of the server that open the same checkpoint compute its map once between them
    return diskcache.once(path, cached, make)


def _keyed(latents, method: str, params: dict | None, seed: int, backend: str) -> tuple[np.ndarray, dict, str, str]:
    """The checked codes and parameters, where the map runs, and its cache key."""
    x, where = _check_latents(latents), gpu.where(backend, method)
    params = check_params(method, params, len(x))
    return x, params, where, cache_key(x, method, params, seed, where)


def map_file(latents, method: str, params: dict | None, seed: int, cache_dir, backend: str = "auto") -> Path:
    """The file `project` reads and writes for this map (ProjectionError for unusable parameters)."""
    return cache_path(cache_dir, method, _keyed(latents, method, params, seed, backend)[3])


def _compute(x: np.ndarray, method: str, params: dict, key: str, seed: int, leave_a_core: bool, where: str) -> Projection:
    t0 = time.perf_counter()
    extra: dict[str, Any] = {}
    mean = components = None
    if method == "pca":
        coords, mean, components, explained = _pca(x)
        extra["explained_variance_ratio"] = explained
    elif where == "cuml":
        coords = gpu.gpu_map(x, method, params, seed)
    elif method == "umap":
        coords = _umap(x, params, seed, leave_a_core)
    else:
        coords = tsne.tsne_map(x, params, seed, leave_a_core)
    coords = np.ascontiguousarray(coords, dtype=np.float32)
    if coords.shape != (len(x), 2) or not np.isfinite(coords).all():
        raise ProjectionError(f"{method} returned an unusable map (shape {coords.shape}, or non-finite values)")
    return Projection(coords=coords, method=method, params=params, key=key, seconds=time.perf_counter() - t0,
                      from_cache=False, seed=seed, mean=mean, components=components, extra=extra)


def _pca(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Top two principal axes by SVD of the centred codes; signs fixed so that each axis's
    largest entry is positive (deterministic). A 1-D latent gets a zero second axis."""
    xd = x.astype(np.float64)
    mean = xd.mean(0)
    _, s, vt = np.linalg.svd(xd - mean, full_matrices=False)
    comps = np.zeros((2, x.shape[1]))
    m = min(2, vt.shape[0])
    comps[:m] = vt[:m]
    signs = np.sign(comps[np.arange(2), np.abs(comps).argmax(1)])
    comps *= np.where(signs == 0, 1.0, signs)[:, None]
    var = s ** 2
    explained = np.zeros(2)
    explained[:m] = var[:m] / var.sum() if var.sum() > 0 else 0.0
    return (xd - mean) @ comps.T, mean.astype(np.float32), comps.astype(np.float32), explained


def _umap(x: np.ndarray, params: dict, seed: int, leave_a_core: bool) -> np.ndarray:
    # The app's own UMAP (explorer/maps/umap_layout.py): umap-learn's algorithm without its
    # start-up cost (pynndescent, numba compiling the graph construction), exact nearest
    # neighbours, seeded, so a shipped map is reproducible; a large map's threads (the idle
    # cores) do not change it.
    from explorer.maps import cores, umap_layout

    try:
        return umap_layout.umap_map(x, params["n_neighbors"], params["min_dist"], seed,
                                    threads=cores.spare(leave_a_core), search_threads=cores.threads(leave_a_core))
    except Exception as e:  # anything inside numba or scipy's eigensolver
        raise ProjectionError(f"UMAP failed ({type(e).__name__}: {e}); try other parameters or PCA") from e


def umap_model(latents: np.ndarray, coords: np.ndarray, params: dict, seed: int):
    """A umap-learn UMAP fitted to `latents` whose embedding is exactly the map `coords`, for
    umap-learn's inverse_transform (map positions back to codes).

    umap-learn builds its fuzzy graph (sigmas, rhos) from the same exact neighbours our map
    was made from, and optimises nothing (n_epochs=0): the embedding is our map itself, so
    it never has to reproduce our layout. Slow on first use (umap-learn's numba compile)."""
    import umap  # imported here: seconds of numba compilation

    from explorer.maps import umap_layout

    x = np.ascontiguousarray(latents, dtype=np.float32)
    y = np.ascontiguousarray(coords, dtype=np.float32)
    idx, dist = umap_layout.knn(x, params["n_neighbors"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = umap.UMAP(n_neighbors=params["n_neighbors"], min_dist=params["min_dist"], n_components=2,
                          random_state=seed, n_epochs=0, init=y,
                          negative_sample_rate=int(umap_layout.NEGATIVE_SAMPLE_RATE),
                          precomputed_knn=(idx, dist.astype(np.float32), None))
        model.fit(x)
    model.embedding_ = y.copy()
    model.n_epochs = umap_layout.N_EPOCHS  # inverse_transform runs a third of the map's epochs
    return model


# ---------------------------------------------------------------- cache files

def _write(path: Path, proj: Projection, dkey: str) -> None:
    """The map as plain arrays and strings, written atomically (explorer/core/diskcache.py)."""
    arrays: dict[str, np.ndarray] = {
        "coords": proj.coords,
        "method": np.array(proj.method),
        "params": np.array(json.dumps(proj.params, sort_keys=True)),
        "key": np.array(proj.key),
        "data_key": np.array(dkey),
        "seconds": np.array(proj.seconds),
        "seed": np.array(proj.seed),
        "created": np.array(time.time()),
        "version": np.array(algorithm_version(proj.method, len(proj.coords))),
    }
    if proj.mean is not None:
        arrays["mean"] = proj.mean
        arrays["components"] = proj.components
    for k, v in proj.extra.items():
        arrays[f"extra_{k}"] = np.asarray(v)
    diskcache.write_npz(path, arrays)


def _read(path: Path) -> Projection | None:
    """A cached map, or None when the file is unreadable or not one of ours."""
    z = diskcache.read_npz(path)
    if z is None:
        return None
    try:
        coords = np.asarray(z["coords"], dtype=np.float32)
        if coords.ndim != 2 or coords.shape[1] != 2:
            return None
        proj = Projection(
            coords=coords, method=str(z["method"]), params=json.loads(str(z["params"])), key=str(z["key"]),
            seconds=float(z["seconds"]), from_cache=True, seed=int(z["seed"]),
            mean=z.get("mean"), components=z.get("components"),
            extra={k.removeprefix("extra_"): v for k, v in z.items() if k.startswith("extra_")},
        )
        proj.extra["data_key"] = str(z["data_key"]) if "data_key" in z else ""
        proj.extra["created"] = float(z["created"]) if "created" in z else path.stat().st_mtime
        proj.extra["version"] = int(z["version"]) if "version" in z else 1
        return proj
    except Exception:  # a foreign or corrupt file is a cache miss, never a crash
        return None


def load_cached(cache_dir: str | os.PathLike | None, method: str, latents: np.ndarray | None = None) -> Projection | None:
    """The most recently written cached map of `method` in `cache_dir`, whatever its parameters,
    or None. Only maps made by the method's current ALGORITHM_VERSION count; given `latents`,
    only a map of exactly these codes."""
    if cache_dir is None or method not in METHODS:
        return None
    want = data_key(latents) if latents is not None else None
    n = len(latents) if latents is not None else None
    for p in diskcache.newest_first(cache_dir, cache_pattern(method)):
        proj = _read(p)
        if proj is None or proj.method != method or proj.extra.get("version") != algorithm_version(method, len(proj.coords)):
            continue
        if want is not None and (proj.extra.get("data_key") != want or len(proj.coords) != n):
            continue
        return proj
    return None


# ---------------------------------------------------------------- new points on a map

def place(projection: Projection, latents: np.ndarray, new_latents: np.ndarray, k: int = 10) -> np.ndarray:
    """Positions (M, 2) of new codes (an interpolation path, a traversal code) on a map.

    Exact for pca (the stored mean and axes) and identity. For umap and tsne it is an
    approximation: the inverse-distance-weighted mean of the map positions of the k
    latents nearest to each new code (no fitted model needs to be kept or unpickled).
    A new code equal to a mapped one lands exactly on it. `latents` must be the codes the
    map was made of."""
    new = np.atleast_2d(np.asarray(new_latents, dtype=np.float64))
    if projection.method == PLANE:
        return new[:, :2].astype(np.float32)
    if projection.method == "pca":
        if projection.mean is None or projection.components is None:
            raise ProjectionError("this PCA map has no stored axes; compute it again with project()")
        mean = np.asarray(projection.mean, dtype=np.float64)
        comps = np.asarray(projection.components, dtype=np.float64)
        return ((new - mean) @ comps.T).astype(np.float32)
    ref = np.asarray(latents, dtype=np.float64)
    coords = np.asarray(projection.coords)  # nearest_mean widens only the k rows it uses
    if len(ref) != len(coords):
        raise ProjectionError(f"place() needs the {len(coords)} codes the map was made of, got {len(ref)}")
    if new.shape[1] != ref.shape[1]:
        raise ProjectionError(f"new codes are {new.shape[1]}-D, the map's codes {ref.shape[1]}-D")
    return nearest_mean(new, ref, coords, k).astype(np.float32)


@dataclass(frozen=True)
class Spot:
    """Where a new code is shown on a map: `xy`; `exact` when the map's own transform put it
    there; otherwise `xy` is its nearest test code's position and `neighbours` (nearest first)
    are the test codes nearest to it in the latent space, to be drawn as such."""
    xy: np.ndarray          # (2,)
    exact: bool
    neighbours: np.ndarray  # (k,) test-set indices


def spot(projection: Projection, latents: np.ndarray, new_latent: np.ndarray, k: int = 5) -> Spot:
    """One new code on a map, placed honestly: PCA projects it with the stored axes and the
    2-D plane is the code itself; UMAP and t-SNE have no transform for a new point here, so
    it sits on its nearest test code and its k nearest are named, not averaged (an average of
    far-apart neighbours can land in empty space between clusters)."""
    z = np.asarray(new_latent, dtype=np.float64).reshape(1, -1)
    near = nearest(z, latents, k)[0]
    if projection.method in (PLANE, "pca"):
        return Spot(place(projection, latents, z)[0], True, near)
    coords = np.asarray(projection.coords)
    if len(coords) != len(latents):
        raise ProjectionError(f"spot() needs the {len(coords)} codes the map was made of, got {len(latents)}")
    return Spot(coords[near[0]].astype(np.float32), False, near)


__all__ = ["METHODS", "DEFAULT_PARAMS", "Projection", "ProjectionError", "project", "place", "Spot", "spot",
           "load_cached", "check_params", "cache_key"]
