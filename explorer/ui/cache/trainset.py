"""The training set beside the test set: its images, the passes of a checkpoint's models over it,
and maps of both sets together, computed in the background (ui/cache/background.py).

The passes are kept on disk like the test set's (explorer/core/arraycache.py, keyed by the
checkpoint and a hash of the training images), so they cost a pass over 60,000 images once per
checkpoint, not once per server. A job reports its progress in chunks of CHUNK images.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import streamlit as st

from explorer.core import arraycache
from explorer.core.kinds import condition
from explorer.data.loader import to_float
from explorer.maps import projection, splits
from explorer.ui.cache.background import Job, done, find, job
from explorer.ui.cache.models import checkpoint, train_set

CHUNK = 5000  # images per step of a pass: its progress moves every few seconds
WHOLE = "test+train"  # added to a checkpoint's key for the map of both sets (another set of codes)


@st.cache_resource(show_spinner=False, max_entries=2)
def train_set_key(name: str) -> str:
    data = train_set(name)
    # the float bytes the key has always hashed, made for the hash and dropped: the training set
    # stays uint8 in this process (a float copy of Fashion-MNIST's is 188 MB)
    return arraycache.data_key(to_float(data.pixels), data.labels)


def _pass(what: str, title: str, path: str, key: str, dataset: str,
          chunk: Callable[[object, np.ndarray, np.ndarray], tuple[np.ndarray, ...]]) -> Job:
    """`chunk(model, images, labels)` over the whole training set, from the disk cache or in the background."""
    data, dkey = train_set(dataset), train_set_key(dataset)
    rows = len(data)
    found = _on_disk(what, key, dkey, rows)
    if found is not None:
        return done(f"{what}|{key}|{dkey}", found)

    # the model loaded here, in the page's run (its spinner shows there), never in the thread:
    # a thread has no page to show anything in
    model = checkpoint(Path(path)).model if find(f"{what}|{key}|{dkey}") is None else None

    def work(j: Job):
        def compute():
            parts = []
            for s in range(0, rows, CHUNK):
                j.progress(f"{title} ({rows:,} images)", s, rows)
                parts.append(chunk(model, data.pixels[s:s + CHUNK], data.labels[s:s + CHUNK]))
            j.progress(f"{title} ({rows:,} images)", rows, rows)
            return tuple(np.concatenate(p) for p in zip(*parts))

        return arraycache.arrays(what, key, dkey, compute, rows=rows)

    return job(f"{what}|{key}|{dkey}", work)


@st.cache_resource(show_spinner=False, max_entries=16)
def _on_disk(what: str, key: str, dkey: str, rows: int) -> tuple[np.ndarray, ...] | None:
    """The pass's arrays from the disk cache, read once per process (a click reruns the page; it
    should not read 60,000 rows again). A miss stays a miss here: the job that computes the pass
    holds its result from then on (background.job)."""
    return arraycache.cached(what, key, dkey, rows=rows)


def _encode(model, images, labels):
    from explorer.analysis import latent
    return latent.encode(model, images, condition(model, labels))


def _classify(model, images, labels):
    from explorer.analysis import latent
    return latent.classify(model, images)


def _recon_error(model, images, labels):
    from explorer.analysis import latent
    return (latent.recon_error(model, images, condition(model, labels)),)


def encodings(path: str, key: str, dataset: str) -> Job:
    """Posterior means and log-variances of the training set, each (N, D), as a job."""
    return _pass("encode", "Encoding the training set", path, key, dataset, _encode)


def predictions(path: str, key: str, dataset: str) -> Job:
    """The classifier's predictions (N,) and probabilities (N, K) on the training set, as a job."""
    return _pass("classify", "The classifier is judging the training set", path, key, dataset, _classify)


def recon_errors(path: str, key: str, dataset: str) -> Job:
    """-log p(x | z = mu) per training image, (N,), as a job."""
    return _pass("recon_error", "Measuring the training set's reconstruction error", path, key, dataset, _recon_error)


def whole_map(test_mu: np.ndarray, train: Job, key: str, folder: Path, method: str, params: dict | None) -> Job:
    """The `method` map of the test codes and then the training codes (maps/splits.py), computed
    and written to `folder` in the background once the training codes are there."""
    params_json = json.dumps(params or {}, sort_keys=True)

    def work(j: Job):
        codes, _ = both_codes(test_mu, train)  # the page's own array: the map's key is of these bytes
        j.progress(f"Computing the map of {len(codes):,} codes (once per checkpoint and settings)")
        return projection.project(codes, method, json.loads(params_json), seed=0, cache_dir=folder, leave_a_core=True)

    return job(f"map|{key}|{WHOLE}|{method}|{params_json}", work)


def both_codes(test_mu: np.ndarray, train: Job) -> tuple[np.ndarray, splits.Rows]:
    """The test codes, then the training codes (maps/splits.py), stacked once per training pass
    (its job's key names the checkpoint and the training images) and shared."""
    return _stacked(train.key, test_mu, train)


@st.cache_resource(show_spinner=False, max_entries=4)
def _stacked(key: str, _test_mu: np.ndarray, _train: Job) -> tuple[np.ndarray, splits.Rows]:
    return splits.stack({"test": _test_mu, "train": _train.wait()[0]})
