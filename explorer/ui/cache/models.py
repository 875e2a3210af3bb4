"""Checkpoints, test sets and the per-checkpoint passes over the test set, loaded once per process.

Models and datasets are shared between sessions (`st.cache_resource`) and never mutated.
Functions that take a model name it `_model` (left out of the cache key) and take the
checkpoint's `key` instead: its path and the modification times of its files, so a retrained
checkpoint is reloaded. The passes over the whole test set are kept on disk too
(explorer/core/arraycache.py), so a checkpoint opened before opens in a new server without
running its models over 10,000 images.
"""
from __future__ import annotations

import importlib
import threading
from pathlib import Path

import numpy as np
import streamlit as st

from explorer.core.kinds import condition
from explorer.checkpoints import CONFIG_FILE, EXTERNAL_FILE, WEIGHTS_FILE, Checkpoint, load_checkpoint, testset
from explorer.core import arraycache
from explorer.core.paths import cache_dir
from explorer.data import ImageDataset, load_dataset
from explorer.checkpoints.catalog import CheckpointEntry, scan
from explorer.checkpoints.factory import named_factories

SCAN_TTL_S = 20  # new checkpoints (training in the background) show up within this long
PREFETCH_DELAY_S = 1.0  # after the Map page's run: the browser has mostly drawn the map (docs/measurements.md)
TORCH_THREADS = 1  # torch's intra-op threads in the app's server (set_torch_threads)


def checkpoint_key(path: Path) -> str:
    """Path plus file times: the identity of a checkpoint's contents for caching."""
    stamps = []
    for name in (CONFIG_FILE, WEIGHTS_FILE, EXTERNAL_FILE):  # model.json: an external model (checkpoints/adapter.py)
        try:
            stamps.append(f"{(path / name).stat().st_mtime_ns}")
        except OSError:
            stamps.append("-")
    return f"{path.resolve()}@{'/'.join(stamps)}"


@st.cache_data(ttl=SCAN_TTL_S, show_spinner=False)
def _entries(roots: tuple[str, ...], factories: tuple[str, ...], cache: str) -> list[CheckpointEntry]:
    return scan([Path(r) for r in roots], factories)  # `cache`: where the factories' folders are, in the key


def checkpoint_entries(roots: tuple[str, ...]) -> list[CheckpointEntry]:
    """The checkpoints under `roots` and the factories named in EXPLORER_FACTORY (scanned at most
    every SCAN_TTL_S seconds)."""
    return _entries(roots, named_factories(), str(cache_dir()))


checkpoint_entries.clear = _entries.clear  # type: ignore[attr-defined]  # the Train page's "forget the list"


@st.cache_resource(show_spinner=False)
def set_torch_threads() -> int:
    """Run the server's torch on TORCH_THREADS intra-op thread(s), once per process, before its
    first model loads (every torch call in the app needs a model, and every model comes from
    checkpoint()). Returns the count.

    The app's sessions are threads of one server. A slider move decodes and classifies one
    image: a few ms on one thread, while splitting it over two costs tens of ms of waiting on
    a busy machine; and every session splitting its work over every core only makes them wait
    on each other. The passes over the whole test set that would gain from more threads run
    once per checkpoint and are kept on disk. Set once here rather than per call, because
    torch.set_num_threads is process-wide."""
    import torch

    torch.set_num_threads(TORCH_THREADS)
    return TORCH_THREADS


@st.cache_resource(show_spinner="Loading checkpoint...", max_entries=12)
def _load(path: str, key: str) -> Checkpoint:
    set_torch_threads()
    return load_checkpoint(path)


def checkpoint(path: Path, key: str = "") -> Checkpoint:
    """The loaded checkpoint (model on CPU, eval mode). Raises CheckpointError. `key`: its
    checkpoint_key when the caller has it already (a page's Context does, from its full run), which
    spares a slider's rerun the file system calls (stat and resolve) of working it out again."""
    return _load(str(path), key or checkpoint_key(path))


@st.cache_resource(show_spinner=False, max_entries=32)
def _load_info(path: str, key: str) -> Checkpoint:
    return load_checkpoint(path, with_model=False)


def checkpoint_info(path: Path) -> Checkpoint:
    """The checkpoint's config, state and metrics, without its model (and without torch).
    Raises CheckpointError."""
    return _load_info(str(path), checkpoint_key(path))


@st.cache_resource(show_spinner=False)
def prefetch_models() -> None:
    """Import torch and the models in a background thread, once per process, so the first
    page that needs a model, and the first click on the map (its pictures need the models),
    find them ready: a click waiting for the import took 1.5 s. The Map page calls this at its
    end. The thread keeps the process's priority: a run that needs the models waits for this
    import (Python's import lock), so a lower priority would make it wait longer on a busy
    machine (a class on one server)."""
    timer = threading.Timer(PREFETCH_DELAY_S, importlib.import_module, args=("explorer.analysis.latent",))
    timer.daemon = True
    timer.name = "explorer-prefetch"
    timer.start()


@st.cache_resource(show_spinner="Loading the test set...", max_entries=4)
def test_set(name: str) -> ImageDataset:
    """The test split, read-only. Raises DataError when its files are missing or broken."""
    return load_dataset(name, "test")


@st.cache_resource(show_spinner="Loading the training set...", max_entries=2)
def train_set(name: str) -> ImageDataset:
    """The training split, read-only. Raises DataError when its files are missing or broken."""
    return load_dataset(name, "train")


@st.cache_data(ttl=60, show_spinner=False)
def available() -> list[str]:
    """Datasets whose files are present (checked at most once a minute)."""
    from explorer.data import available_datasets
    return available_datasets()


@st.cache_resource(show_spinner=False, max_entries=4)
def test_set_key(name: str) -> str:
    """A hash of the test split's images and labels, for the on-disk array cache."""
    data = test_set(name)
    return arraycache.data_key(data.images, data.labels)


@st.cache_data(show_spinner="Encoding the test set...", max_entries=8)
def encodings(path: str, key: str, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances of the test set under the VAE at `path`, each (N, D)."""
    data = test_set(dataset)

    def compute():
        from explorer.analysis import latent
        model = checkpoint(Path(path)).model
        return latent.encode(model, data.pixels, condition(model, data.labels))

    mu, logvar = test_set_pass("encode", path, key, dataset, compute)
    return mu, logvar


@st.cache_data(show_spinner="The classifier is judging the test set...", max_entries=8)
def test_predictions(path: str, key: str, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Predictions (N,) and probabilities (N, K) on the test set of the classifier (or hybrid head) at `path`."""
    data = test_set(dataset)

    def compute():
        from explorer.analysis import latent
        return latent.classify(checkpoint(Path(path)).model, data.pixels)

    pred, proba = test_set_pass("classify", path, key, dataset, compute)
    return pred, proba


@st.cache_data(show_spinner="Measuring reconstruction error...", max_entries=8)
def recon_errors(path: str, key: str, dataset: str) -> np.ndarray:
    """-log p(x | z = mu) per test image under the VAE at `path`, (N,)."""
    data = test_set(dataset)

    def compute():
        from explorer.analysis import latent
        model = checkpoint(Path(path)).model
        return (latent.recon_error(model, data.pixels, condition(model, data.labels)),)

    (errors,) = test_set_pass("recon_error", path, key, dataset, compute)
    return errors


def test_set_pass(what: str, path: str, key: str, dataset: str, compute) -> tuple[np.ndarray, ...]:
    """What the model at `path` computes over the whole test set: the checkpoint's own shipped
    testset.npz when it holds `what` for these weights (no torch, no pass over the test set),
    else the array cache on disk, else `compute()`."""
    rows, dkey = len(test_set(dataset).images), test_set_key(dataset)
    shipped = testset.read(Path(path), what, dkey, rows)
    if shipped is not None:
        return shipped
    return arraycache.arrays(what, key, dkey, compute, rows=rows)


@st.cache_data(show_spinner=False, max_entries=64)
def reconstructions(_model, key: str, dataset: str, indices: tuple[int, ...], split: str = "test") -> np.ndarray:
    """The model's reconstructions of the `split` ("test" or "train") images at `indices`, (M, C, H, W)."""
    from explorer.analysis import latent
    from explorer.data.loader import to_float
    data = test_set(dataset) if split == "test" else train_set(dataset)
    idx = np.asarray(indices, dtype=np.int64)
    return latent.reconstruct(_model, to_float(data.pixels[idx]), condition(_model, data.labels[idx]))


@st.cache_data(show_spinner="Scoring every test image (once per checkpoint)...", max_entries=8)
def anomaly_scores(_model, key: str, dataset: str) -> dict[str, np.ndarray]:
    """Per test image: negative ELBO and its terms, in nats; kept on disk in the cache dir."""
    from explorer.analysis import teach
    data = test_set(dataset)
    return teach.anomaly_scores(_model, data.images, data.labels, samples=1, seed=0,
                                cache_file=teach.scores_file(cache_dir(), f"{key}|{dataset}"))
