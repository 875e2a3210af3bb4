"""Cached loaders: models once per process (`st.cache_resource`), arrays once per checkpoint.

Models and datasets are shared between sessions and never mutated. Functions that take a
model name it `_model` (left out of the cache key) and take the checkpoint's `key` instead:
its path and the modification times of its files, so a retrained checkpoint is reloaded.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import streamlit as st

from explorer.core import arraycache
from explorer.core.kinds import condition
from explorer.figures import plots
from explorer.maps import projection
from explorer.checkpoints import CONFIG_FILE, WEIGHTS_FILE, Checkpoint, load_checkpoint
from explorer.data import ImageDataset, cache_dir, load_dataset

from explorer.checkpoints.catalog import CheckpointEntry, scan

projection.LEAVE_A_CORE = True  # a t-SNE map computed in the server leaves a core to the other sessions

SCAN_TTL_S = 20  # new checkpoints (training in the background) show up within this long


def checkpoint_key(path: Path) -> str:
    """Path plus file times: the identity of a checkpoint's contents for caching."""
    stamps = []
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        try:
            stamps.append(f"{(path / name).stat().st_mtime_ns}")
        except OSError:
            stamps.append("-")
    return f"{path.resolve()}@{'/'.join(stamps)}"


@st.cache_data(ttl=SCAN_TTL_S, show_spinner=False)
def checkpoint_entries(roots: tuple[str, ...]) -> list[CheckpointEntry]:
    return scan([Path(r) for r in roots])


@st.cache_resource(show_spinner="Loading checkpoint...", max_entries=12)
def _load(path: str, key: str) -> Checkpoint:
    return load_checkpoint(path)


def checkpoint(path: Path) -> Checkpoint:
    """The loaded checkpoint (model on CPU, eval mode). Raises CheckpointError."""
    return _load(str(path), checkpoint_key(path))


@st.cache_resource(show_spinner=False, max_entries=32)
def _load_info(path: str, key: str) -> Checkpoint:
    return load_checkpoint(path, with_model=False)


def checkpoint_info(path: Path) -> Checkpoint:
    """The checkpoint's config, state and metrics, without its model (and without torch).
    Raises CheckpointError."""
    return _load_info(str(path), checkpoint_key(path))


_PREFETCHED = False


PREFETCH_DELAY_S = 3.0  # after the Map page's script ends: let the browser draw the map first


def prefetch_models() -> None:
    """Import torch and the models in a background thread, once per process, so the first
    page that needs a model finds them ready. The Map page calls this at its end; the import
    waits a few seconds, so its CPU time does not slow the browser drawing the map."""
    global _PREFETCHED
    if not _PREFETCHED:
        import importlib
        import threading

        _PREFETCHED = True
        timer = threading.Timer(PREFETCH_DELAY_S, importlib.import_module, args=("explorer.analysis.latent",))
        timer.daemon = True
        timer.name = "explorer-prefetch"
        timer.start()


@st.cache_resource(show_spinner="Loading the test set...", max_entries=4)
def test_set(name: str) -> ImageDataset:
    """The test split, read-only. Raises DataError when its files are missing or broken."""
    return load_dataset(name, "test")


@st.cache_data(ttl=60, show_spinner=False)
def available() -> list[str]:
    """Datasets whose files are present (checked at most once a minute)."""
    from explorer.data import available_datasets
    return available_datasets()


def _condition(model, labels: np.ndarray) -> np.ndarray | None:
    """A cvae's encoder needs the true labels; other models take none."""
    return condition(model, labels)


@st.cache_resource(show_spinner=False, max_entries=4)
def test_set_key(name: str) -> str:
    """A hash of the test split's images and labels, for the on-disk array cache."""
    data = test_set(name)
    return arraycache.data_key(data.images, data.labels)


# The passes over the whole test set below are kept on disk too (explorer/core/arraycache.py), so a
# checkpoint opened before opens in a new server without running its models over 10,000 images.

@st.cache_data(show_spinner="Encoding the test set...", max_entries=8)
def encodings(path: str, key: str, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances of the test set under the VAE at `path`, each (N, D)."""
    data = test_set(dataset)

    def compute():
        from explorer.analysis import latent
        model = checkpoint(Path(path)).model
        return latent.encode(model, data.images, _condition(model, data.labels))

    mu, logvar = arraycache.arrays("encode", key, test_set_key(dataset), compute, rows=len(data.images))
    return mu, logvar


@st.cache_data(show_spinner="The classifier is judging the test set...", max_entries=8)
def judgements(path: str, key: str, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Predictions (N,) and probabilities (N, K) on the test set of the classifier (or hybrid head) at `path`."""
    data = test_set(dataset)

    def compute():
        from explorer.analysis import latent
        return latent.classify(checkpoint(Path(path)).model, data.images)

    pred, proba = arraycache.arrays("classify", key, test_set_key(dataset), compute, rows=len(data.images))
    return pred, proba


@st.cache_data(show_spinner="Measuring reconstruction error...", max_entries=8)
def recon_errors(path: str, key: str, dataset: str) -> np.ndarray:
    """-log p(x | z = mu) per test image under the VAE at `path`, (N,)."""
    data = test_set(dataset)

    def compute():
        from explorer.analysis import latent
        model = checkpoint(Path(path)).model
        return (latent.recon_error(model, data.images, _condition(model, data.labels)),)

    (errors,) = arraycache.arrays("recon_error", key, test_set_key(dataset), compute, rows=len(data.images))
    return errors


@st.cache_data(show_spinner=False, max_entries=64)
def reconstructions(_model, key: str, dataset: str, indices: tuple[int, ...]) -> np.ndarray:
    from explorer.analysis import latent
    data = test_set(dataset)
    idx = np.asarray(indices, dtype=np.int64)
    return latent.reconstruct(_model, data.images[idx], _condition(_model, data.labels[idx]))


def cached_map(key: str, method: str, params_json: str, n: int, cache_dir: str) -> projection.Projection | None:
    """A map already on disk for these parameters, or None; never computes. (Read once per set
    of map files on disk: a miss now is a hit as soon as the Map page has written the map.)"""
    params = json.loads(params_json)
    try:
        found = _newest_cached(cache_dir, method, map_files(cache_dir, method))
    except Exception:  # an unreadable cache file is just a cache miss
        return None
    if found is None or len(found.coords) != n:
        return None
    try:
        wanted = projection.check_params(method, params, n)
    except projection.ProjectionError:
        return None
    return found if found.params == wanted else None


def map_files(cache_dir: str, method: str) -> tuple[tuple[str, int], ...]:
    """The method's cached map files with their modification times (a few stat calls): a key
    that changes when a map is written."""
    out = []
    for p in Path(cache_dir).glob(f"{method}-*.npz"):
        try:
            out.append((p.name, p.stat().st_mtime_ns))
        except OSError:
            continue
    return tuple(sorted(out))


@st.cache_resource(show_spinner=False, max_entries=64)
def _newest_cached(cache_dir: str, method: str, files: tuple[tuple[str, int], ...]) -> projection.Projection | None:
    """load_cached(), read once per set of files (a new or rewritten map file is a new key).
    Shared and never mutated."""
    return projection.load_cached(Path(cache_dir), method)


def map_ready(latents: np.ndarray, key: str, method: str, params_json: str, cache_dir: str) -> bool:
    """Whether computed_map() would answer at once: computed in this process, or on disk."""
    if (key, method, params_json) in _COMPUTED:
        return True
    try:
        params = projection.check_params(method, json.loads(params_json), len(latents))
        codes = np.ascontiguousarray(latents, dtype=np.float32)
        return (Path(cache_dir) / f"{method}-{projection.cache_key(codes, method, params, 0)}.npz").is_file()
    except projection.ProjectionError:
        return False


_COMPUTED: set[tuple[str, str, str]] = set()  # maps computed_map() holds in memory


def computed_map(latents: np.ndarray, key: str, method: str, params_json: str,
                 cache_dir: str) -> projection.Projection:
    """Project the latents (through the on-disk cache, and memoised). Raises ProjectionError and friends."""
    proj = _computed_map(latents, key, method, params_json, cache_dir)
    _COMPUTED.add((key, method, params_json))
    return proj


@st.cache_data(show_spinner=False, max_entries=32)
def _computed_map(_latents: np.ndarray, key: str, method: str, params_json: str,
                  cache_dir: str) -> projection.Projection:
    return projection.project(_latents, method, json.loads(params_json), seed=0, cache_dir=Path(cache_dir))


@st.cache_data(show_spinner="Decoding the latent plane...", max_entries=8)
def manifold(_model, key: str, extent: tuple[float, float, float, float], n: int, label: int | None):
    """A 2-D latent plane's decoded images as a map backdrop: (image, x0, x1, y0, y1)."""
    image, (x0, x1, y0, y1) = plots.manifold_grid(_model, extent, n=n, label=label)
    return image, x0, x1, y0, y1


@st.cache_data(show_spinner="Scoring every test image (once per checkpoint)...", max_entries=8)
def anomaly_scores(_model, key: str, dataset: str) -> dict[str, np.ndarray]:
    """Per test image: negative ELBO and its terms, in nats; kept on disk in the cache dir."""
    from explorer.analysis import teach
    data = test_set(dataset)
    return teach.anomaly_scores(_model, data.images, data.labels, samples=1, seed=0,
                                cache_file=teach.scores_file(cache_dir(), f"{key}|{dataset}"))
