"""The disk caches' keys, pinned: files written by earlier versions (the shipped maps under
checkpoints/*/*/projections, the test-set array cache, anomaly scores, decoded datasets)
must still be found. Each expected value was computed before the caches shared one module."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from explorer.analysis import teach
from explorer.core import arraycache
from explorer.maps import projection
from helpers import REPO

ROOT = REPO
IMAGES = np.arange(24, dtype=np.float32).reshape(6, 1, 2, 2) / 24
LABELS = np.arange(6)
CODES = (np.arange(40, dtype=np.float32).reshape(10, 4) / 7).astype(np.float32)


def test_the_array_cache_keys_are_unchanged():
    assert arraycache.data_key(IMAGES, LABELS) == "1166a1a2cae29732"
    assert arraycache.data_key(IMAGES) == "6b8cce5614e3f66a"
    path = arraycache.cache_path("encode", "model@1", "1166a1a2cae29732", "/r")
    assert path == Path("/r/arrays/encode-08a03a0703728cd4.npz")


@pytest.mark.parametrize("method, params, key", [
    ("umap", {"min_dist": 0.1, "n_neighbors": 15}, "18a6b9735ce3723d"),
    ("tsne", {"perplexity": 30}, "69932d2ff74e9bd8"),
    ("pca", {}, "c74debdcf90444f9"),
    ("identity", {}, "f44880449d84854d"),
])
def test_the_map_cache_keys_are_unchanged(method, params, key):
    assert projection.cache_key(CODES, method, params, 3) == key
    assert projection.data_key(CODES) == "f06db9926dd47fb5"


def test_the_anomaly_score_files_are_unchanged():
    assert teach.scores_file(Path("/c"), "ckpt-a@123") == Path("/c/scores/elbo-9b8be556e7f4e44581b9.npz")
    assert teach.scores_file(Path("/c"), "ckpt-a@123", 4, 2) == Path("/c/scores/elbo-8c8cf0e1f535e0225672.npz")


def test_the_decoded_dataset_cache_names_are_unchanged(tmp_path, monkeypatch):
    from explorer.data import loader

    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "train-labels-idx1-ubyte"
    source.write_bytes(b"x" * 100)
    os.utime(source, ns=(123, 123))
    location = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]
    assert loader.decoded_path(source) == (tmp_path / "cache" / "decoded" /
                                           f"train-labels-idx1-ubyte-{location}-ac93100bf845b6e6.npy")


def _shipped_maps():
    from explorer.data import available_datasets

    have = set(available_datasets())
    for f in sorted(ROOT.glob("checkpoints/*/*/projections/*.npz")):
        ckpt = f.parent.parent
        yield pytest.param(ckpt, f, id=f"{ckpt.parent.name}/{ckpt.name}/{f.name}",
                           marks=[] if ckpt.parent.name in have else
                           [pytest.mark.skip(reason=f"{ckpt.parent.name} is not on this machine")])


@pytest.mark.parametrize("ckpt, cached", list(_shipped_maps()))
def test_every_shipped_map_is_found_under_its_key(ckpt, cached):
    """The codes of the whole test set, keyed as project() keys them, name the shipped file."""
    from explorer.analysis.latent import encode
    from explorer.checkpoints import load_checkpoint
    from explorer.data import load_dataset

    model = load_checkpoint(ckpt)
    test = load_dataset(model.dataset, "test")
    mu = np.ascontiguousarray(encode(model.model, test.images, test.labels)[0], np.float32)
    with np.load(cached, allow_pickle=False) as z:
        method, params, seed = str(z["method"]), json.loads(str(z["params"])), int(z["seed"])
    assert cached.name == f"{method}-{projection.cache_key(mu, method, params, seed)}.npz"
    assert projection.load_cached(cached.parent, method, mu) is not None
