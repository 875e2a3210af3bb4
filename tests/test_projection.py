"""projection.py on random latents in three well-separated blobs, and the `project` CLI."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from explorer.maps import projection, umap_layout
from explorer.maps.projection import METHODS, ProjectionError, load_cached, place, project
from explorer.maps.quality import trustworthiness
from fresh_python import last_line
from helpers import REPO

N_PER_BLOB, DIM = 100, 5
ROOT = REPO


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """300 points in 3 Gaussian blobs 10 standard deviations apart, (300, 5) float32, and blob labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, size=(3, DIM))
    labels = np.repeat(np.arange(3), N_PER_BLOB)
    return (centres[labels] + rng.normal(size=(len(labels), DIM))).astype(np.float32), labels


def knn_recovers(coords: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    return float(cross_val_score(KNeighborsClassifier(5), coords, labels, cv=5).mean())


@pytest.fixture(scope="module")
def data():
    return blobs()


class Maps:
    """Each method's map of the blobs, computed on first use into one shared cache dir."""

    def __init__(self, x: np.ndarray, cache: Path):
        self.x, self.cache, self._maps = x, cache, {}

    def __getitem__(self, method: str) -> projection.Projection:
        if method not in self._maps:
            self._maps[method] = project(self.x, method, seed=0, cache_dir=self.cache)
        return self._maps[method]


@pytest.fixture(scope="module")
def maps(data, tmp_path_factory) -> Maps:
    return Maps(data[0], tmp_path_factory.mktemp("projections"))


# UMAP's first run in a process compiles numba code for 10-20 s, so its tests are slow.
ALL_METHODS = [pytest.param(m, marks=pytest.mark.slow) if m == "umap" else m for m in METHODS]


@pytest.mark.parametrize("method", ALL_METHODS)
def test_map_is_finite_and_separates_the_blobs(method, data, maps):
    x, labels = data
    proj = maps[method]
    assert proj.coords.shape == (len(x), 2) and proj.coords.dtype == np.float32
    assert np.isfinite(proj.coords).all()
    assert proj.method == method and proj.params == projection.DEFAULT_PARAMS[method]
    assert not proj.from_cache and len(proj.key) == 16
    assert knn_recovers(proj.coords, labels) > 0.9


@pytest.mark.parametrize("method", ALL_METHODS)
def test_same_seed_same_map(method, data, maps):
    again = project(data[0], method, seed=0)  # no cache: computed afresh
    assert np.allclose(again.coords, maps[method].coords, atol=1e-5)
    assert again.key == maps[method].key


@pytest.mark.parametrize("method", ALL_METHODS)
def test_second_call_reads_the_cache_fast(method, data, maps):
    first = maps[method]
    assert (maps.cache / f"{method}-{first.key}.npz").is_file()
    t0 = time.perf_counter()
    hit = project(data[0], method, seed=0, cache_dir=maps.cache)
    assert time.perf_counter() - t0 < 0.2
    assert hit.from_cache and hit.key == first.key
    assert np.array_equal(hit.coords, first.coords)


def test_key_depends_on_params_seed_and_data(data):
    x, _ = data
    key = projection.cache_key
    base = key(x, "umap", {"n_neighbors": 15, "min_dist": 0.1}, 0)
    assert base == key(x.copy(), "umap", {"min_dist": 0.1, "n_neighbors": 15}, 0)
    assert base != key(x, "umap", {"n_neighbors": 16, "min_dist": 0.1}, 0)
    assert base != key(x, "umap", {"n_neighbors": 15, "min_dist": 0.1}, 1)
    assert base != key(x[:-1], "umap", {"n_neighbors": 15, "min_dist": 0.1}, 0)
    # 30 and 30.0 are the same perplexity, so the same map
    assert project(x, "pca").key == project(x, "pca", {}).key
    p30 = projection.check_params("tsne", {"perplexity": 30.0}, len(x))
    assert key(x, "tsne", p30, 0) == key(x, "tsne", projection.check_params("tsne", None, len(x)), 0)


def test_pca_is_exact_and_places_new_codes_exactly(data, tmp_path):
    x, _ = data
    proj = project(x, "pca", cache_dir=tmp_path)
    centred = x.astype(np.float64) - x.mean(0)
    assert np.allclose(proj.coords, centred @ proj.components.T.astype(np.float64), atol=1e-4)
    assert np.allclose(proj.components @ proj.components.T, np.eye(2), atol=1e-5)  # orthonormal axes
    assert proj.coords[:, 0].var() >= proj.coords[:, 1].var()  # first axis explains the most
    new = np.random.default_rng(5).normal(size=(7, DIM)).astype(np.float32)
    expected = (new - proj.mean) @ proj.components.T
    assert np.allclose(place(proj, x, new), expected, atol=1e-4)
    cached = project(x, "pca", cache_dir=tmp_path)  # the axes come back from the npz too
    assert cached.from_cache and np.allclose(place(cached, x, x[:5]), proj.coords[:5], atol=1e-4)


@pytest.mark.slow
def test_place_on_umap_lands_among_the_neighbours(data, maps):
    x, labels = data
    proj = maps["umap"]
    assert np.allclose(place(proj, x, x[[4, 150]]), proj.coords[[4, 150]], atol=1e-4)  # a mapped code: its spot
    centre = x[labels == 2].mean(0)
    spot = place(proj, x, centre[None], k=10)[0]
    near = np.argsort(np.linalg.norm(proj.coords - spot, axis=1))[:10]
    assert (labels[near] == 2).all()  # the blob's centre lands inside the blob


def test_identity_shows_a_2d_latent_as_its_plane():
    x = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    proj = project(x, "identity")
    assert np.array_equal(proj.coords, x)
    assert np.allclose(place(proj, x, x[:3] + 1), x[:3] + 1)
    with pytest.raises(ProjectionError, match="5-D"):
        project(np.zeros((50, 5), np.float32), "identity")


@pytest.mark.parametrize("method, params, message", [
    ("umap", {"n_neighbors": 1}, "between 2 and N - 1 = 299"),
    ("umap", {"n_neighbors": 300}, "between 2 and N - 1 = 299"),
    ("umap", {"min_dist": -0.5}, "between 0 and 1"),
    ("umap", {"perplexity": 30}, "no parameter"),
    ("tsne", {"perplexity": 100}, "less than N / 3 = 100"),
    ("tsne", {"perplexity": 0.5}, "at least 1"),
    ("tsne", {"perplexity": "many"}, "must be numbers"),
    ("mds", None, "choose one of umap, tsne, pca"),
])
def test_bad_params_say_what_is_allowed(method, params, message, data):
    with pytest.raises(ProjectionError, match=message):
        project(data[0], method, params)


def test_bad_latents_are_refused():
    with pytest.raises(ProjectionError, match="NaN"):
        project(np.full((20, 3), np.nan, np.float32), "pca")
    with pytest.raises(ProjectionError, match="2-D array"):
        project(np.zeros(20, np.float32), "pca")
    assert issubclass(ProjectionError, ValueError)


def test_a_failure_inside_umap_becomes_a_projection_error(data, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("numba exploded")
    monkeypatch.setattr(umap_layout, "umap_map", broken)
    with pytest.raises(ProjectionError, match="UMAP failed.*numba exploded"):
        project(data[0], "umap", {"n_neighbors": 5})


def test_load_cached_returns_the_latest_map_of_a_method(data, tmp_path):
    x, _ = data
    assert load_cached(tmp_path, "pca") is None and load_cached(tmp_path / "missing", "umap") is None
    first = project(x, "pca", seed=0, cache_dir=tmp_path)
    later = project(x, "pca", seed=1, cache_dir=tmp_path)
    os.utime(tmp_path / f"pca-{first.key}.npz", (1, 1))  # make the first file clearly older
    got = load_cached(tmp_path, "pca")
    assert got is not None and got.from_cache and got.key == later.key
    assert load_cached(tmp_path, "pca", latents=x) is not None
    assert load_cached(tmp_path, "pca", latents=x[:-1]) is None  # maps of other codes do not count
    assert load_cached(tmp_path, "umap") is None


def test_a_corrupt_cache_file_is_recomputed(data, tmp_path):
    x, _ = data
    proj = project(x, "pca", cache_dir=tmp_path)
    path = tmp_path / f"pca-{proj.key}.npz"
    path.write_bytes(b"not a zip file")
    again = project(x, "pca", cache_dir=tmp_path)
    assert not again.from_cache and np.allclose(again.coords, proj.coords)
    assert project(x, "pca", cache_dir=tmp_path).from_cache  # and the file was repaired
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_trustworthiness_is_a_score_in_0_1(data, maps):
    x, _ = data
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(100, 2))
    assert trustworthiness(plane, plane) == pytest.approx(1.0)
    scrambled = trustworthiness(x, rng.normal(size=(len(x), 2)))
    good = trustworthiness(x, maps["pca"].coords)
    assert 0.0 <= scrambled < good <= 1.0
    big = rng.normal(size=(2500, 3))
    assert 0.0 <= trustworthiness(big, big[:, :2], k=5) <= 1.0  # subsampled to 2000


def fake_umap(monkeypatch) -> list[tuple]:
    """A stand-in for the app's UMAP (its map: the first two coordinates), so a umap cache
    file can be written without paying for numba; returns the calls it gets."""
    calls: list[tuple] = []

    def umap_map(x, n_neighbors, min_dist, seed, threads=1, search_threads=1):
        calls.append((n_neighbors, min_dist, seed))
        return x[:, :2]
    monkeypatch.setattr(umap_layout, "umap_map", umap_map)
    return calls


@pytest.mark.slow  # a fresh interpreter
def test_a_cache_hit_does_not_import_umap(data, tmp_path, monkeypatch):
    fake_umap(monkeypatch)
    written = project(data[0], "umap", seed=0, cache_dir=tmp_path)
    assert np.array_equal(written.coords, data[0][:, :2])
    np.save(tmp_path / "blobs.npy", data[0])
    code = (
        "import sys, numpy as np\n"
        "from explorer.maps.projection import project\n"
        f"x = np.load({str(tmp_path / 'blobs.npy')!r})\n"
        f"p = project(x, 'umap', seed=0, cache_dir={str(tmp_path)!r})\n"
        "assert p.from_cache, 'expected a cache hit'\n"
        "assert 'umap' not in sys.modules and 'openTSNE' not in sys.modules and 'numba' not in sys.modules\n"
        "print('ok')\n"
    )
    assert last_line(code) == "ok"


def test_umap_is_called_with_the_map_parameters(data, tmp_path, monkeypatch):
    calls = fake_umap(monkeypatch)
    project(data[0], "umap", {"n_neighbors": 7, "min_dist": 0.25}, seed=3)
    assert calls == [(7, 0.25, 3)]


# ---------------------------------------------------------------- the CLI

@pytest.fixture(scope="module")
def digits_checkpoint(tmp_path_factory) -> Path:
    """A vae trained for a few steps on the bundled digits, saved as a real checkpoint."""
    import torch

    from explorer.checkpoints import save_checkpoint
    from explorer.core.config import ModelConfig, TrainConfig
    from explorer.data import load_dataset
    from explorer.training import train

    torch.manual_seed(0)
    model_cfg = ModelConfig(kind="vae", channels=(4, 8), hidden=16, latent_dim=3, image_shape=(1, 8, 8))
    train_cfg = TrainConfig(dataset="digits", epochs=1, batch_size=64, device="cpu", max_steps=5)
    result = train(model_cfg, train_cfg, load_dataset("digits", "train"), None)
    path = tmp_path_factory.mktemp("ckpt") / "digits" / "vae-3d"
    return save_checkpoint(path, result.model, model_cfg, train_cfg, "digits", result.state)


def test_cli_project_writes_and_reuses_the_map(digits_checkpoint, capsys):
    from explorer.cli import main

    args = ["project", "--checkpoint", str(digits_checkpoint), "--method", "pca"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(first) == {"method", "params", "key", "split", "rows", "seconds", "from_cache", "trustworthiness", "n"}
    assert first["method"] == "pca" and first["n"] == 360 and not first["from_cache"]
    assert 0.0 <= first["trustworthiness"] <= 1.0
    assert (digits_checkpoint / "projections" / f"pca-{first['key']}.npz").is_file()
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert second["from_cache"] and second["key"] == first["key"]
    assert load_cached(digits_checkpoint / "projections", "pca").key == first["key"]  # what the app reads


def test_cli_project_errors_are_one_clear_line(digits_checkpoint, capsys):
    from explorer.cli import main

    assert main(["project", "--checkpoint", str(digits_checkpoint), "--method", "tsne", "--perplexity", "500"]) == 2
    err = capsys.readouterr().err
    assert "perplexity must be at least 1 and less than N / 3 = 120" in err and "Traceback" not in err
    assert main(["project", "--checkpoint", str(digits_checkpoint), "--method", "pca", "--n-neighbors", "5"]) == 2
    assert "--n-neighbors applies to --method umap only" in capsys.readouterr().err
    assert main(["project", "--checkpoint", str(digits_checkpoint.parent / "nope"), "--method", "pca"]) == 2
