"""The app's own UMAP (explorer/maps/umap_layout.py) and t-SNE settings, on real codes: exact
neighbours, umap-learn's fuzzy graph, one map per seed, and maps at least as trustworthy
as the libraries' defaults. Plus the cache key's algorithm version."""
from __future__ import annotations

import os

import numpy as np
import pytest

from explorer.maps import cores, projection, umap_layout
from explorer.maps.projection import project
from explorer.maps.quality import trustworthiness
from fresh_python import last_line
from helpers import REPO

ROOT = REPO
VAE = ROOT / "checkpoints" / "fashion-mnist" / "vae-16d"
N_CODES = 2000


@pytest.fixture(scope="module")
def codes() -> np.ndarray:
    """The shipped 16-D vae's codes of the first 2,000 Fashion-MNIST test images: what the app maps."""
    from explorer.checkpoints import load_checkpoint
    from explorer.data import load_dataset
    from explorer.analysis.latent import encode

    ckpt = load_checkpoint(VAE)
    return encode(ckpt.model, load_dataset(ckpt.dataset, "test").images[:N_CODES])[0]


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """The bundled 8x8 digits as 64-D pixel vectors: integer pixels, so many equal distances."""
    from explorer.data import load_dataset

    return load_dataset("digits", "test").images.reshape(-1, 64).astype(np.float32)[:500]


def test_neighbours_are_exact_and_start_with_the_point_itself(codes, digits):
    from sklearn.neighbors import NearestNeighbors

    for x in (codes, digits):
        idx, dist = umap_layout.knn(x, 15)
        _, ref = NearestNeighbors(n_neighbors=15, algorithm="brute").fit(x).kneighbors(x)
        truth = np.linalg.norm(x[:, None, :].astype(np.float64) - x[ref].astype(np.float64), axis=2)
        assert (idx[:, 0] == np.arange(len(x))).all() and (dist[:, 0] == 0).all()
        assert np.allclose(dist, np.sort(truth, axis=1), atol=1e-6)        # the same distances, ascending
        got = np.linalg.norm(x[:, None, :].astype(np.float64) - x[idx].astype(np.float64), axis=2)
        assert np.allclose(got, dist, atol=1e-6)                           # and the indices they belong to
        assert all(len(set(row)) == 15 for row in idx)


@pytest.mark.slow
def test_fuzzy_graph_is_umap_learns(codes):
    import warnings

    from umap.umap_ import fuzzy_simplicial_set

    idx, dist = umap_layout.knn(codes, 15)
    ours = umap_layout.fuzzy_graph(idx, dist, n_epochs=10 ** 12).toarray()  # nothing pruned
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs, _, _ = fuzzy_simplicial_set(codes, 15, np.random.RandomState(0), "euclidean",
                                            knn_indices=idx, knn_dists=dist.astype(np.float32))
    assert np.allclose(ours, theirs.toarray(), atol=1e-4)
    assert np.allclose(ours, ours.T)


def test_ab_params_are_umap_learns_for_its_defaults():
    a, b = umap_layout.ab_params(0.1)
    assert a == pytest.approx(1.577, abs=2e-3) and b == pytest.approx(0.895, abs=2e-3)  # umap-learn's documented fit


@pytest.mark.slow
def test_same_seed_same_map_in_a_fresh_process_and_another_seed_another(codes, tmp_path):
    x = codes[:1000]
    here = umap_layout.umap_map(x, 15, 0.1, seed=3)
    np.save(tmp_path / "x.npy", x)
    code = ("import numpy as np\nfrom explorer.maps import umap_layout\n"
            f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
            f"np.save({str(tmp_path / 'y.npy')!r}, umap_layout.umap_map(x, 15, 0.1, seed=3))\n")
    last_line(code, timeout=300)
    assert np.array_equal(np.load(tmp_path / "y.npy"), here)
    other = umap_layout.umap_map(x, 15, 0.1, seed=4)
    assert np.abs(other - here).max() > 0.1 * np.ptp(here)


@pytest.mark.slow
def test_umap_is_as_trustworthy_as_umap_learns_defaults(codes):
    import warnings

    import umap

    ours = project(codes, "umap", seed=0).coords
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = umap.UMAP(random_state=0).fit_transform(codes)
    assert trustworthiness(codes, ours) >= trustworthiness(codes, theirs) - 0.002


@pytest.mark.slow
def test_tsne_is_as_trustworthy_as_opentsnes_defaults(codes):
    # Half the iterations after the early exaggeration cost no trust. (Below 10,000 points
    # openTSNE uses Barnes-Hut, so the FFT grid settings play no part here; bench compares the
    # 10,000-code FFT map with scikit-learn's. On these 2,000 codes openTSNE, with its
    # defaults or ours, is a little below scikit-learn's TSNE with its 1,000 iterations:
    # docs/measurements.md.)
    import warnings

    import openTSNE

    ours = project(codes, "tsne", seed=0).coords
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.asarray(openTSNE.TSNE(random_state=0, neighbors="exact").fit(codes.astype(np.float64)))
    assert trustworthiness(codes, ours) >= trustworthiness(codes, theirs) - 0.002


def test_a_map_cached_by_an_older_algorithm_is_not_served(tmp_path, monkeypatch):
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    monkeypatch.setattr(umap_layout, "umap_map", lambda x, n_neighbors, min_dist, seed, **kw: x[:, :2] * 0 + seed)
    monkeypatch.setitem(projection.ALGORITHM_VERSION, "umap", 1)           # a map made the old way
    old = project(x, "umap", seed=0, cache_dir=tmp_path)
    assert project(x, "umap", seed=0, cache_dir=tmp_path).from_cache
    monkeypatch.setitem(projection.ALGORITHM_VERSION, "umap", 2)           # the algorithm changed
    assert projection.load_cached(tmp_path, "umap", x) is None              # nor as the newest map on disk
    new = project(x, "umap", seed=0, cache_dir=tmp_path)
    assert not new.from_cache and new.key != old.key
    assert projection.load_cached(tmp_path, "umap", x).key == new.key
    pca_before = projection.cache_key(x, "pca", {}, 0)
    monkeypatch.setitem(projection.ALGORITHM_VERSION, "umap", 3)
    assert projection.cache_key(x, "pca", {}, 0) == pca_before             # other methods' maps stay valid


def test_tsne_map_is_the_same_whatever_the_thread_count(monkeypatch):
    x = np.random.default_rng(1).normal(size=(300, 6)).astype(np.float32)
    maps = []
    for threads in (1, 2):
        monkeypatch.setattr(cores, "threads", lambda leave_a_core=False: threads)
        maps.append(project(x, "tsne", seed=0).coords)
    assert np.array_equal(maps[0], maps[1])


@pytest.mark.slow  # a fresh interpreter
def test_tsne_does_not_import_pynndescent():
    """A first t-SNE map after installing must not pay for pynndescent's numba compile
    (docs/measurements.md): openTSNE's probe for it imports it."""
    code = (
        "import sys, numpy as np\n"
        "from explorer.maps.projection import project\n"
        "x = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)\n"
        "coords = project(x, 'tsne', seed=0).coords\n"
        "assert coords.shape == (200, 2) and np.isfinite(coords).all()\n"
        "assert 'openTSNE' in sys.modules and 'pynndescent' not in sys.modules, 'pynndescent imported'\n"
        "print('ok')\n"
    )
    assert last_line(code) == "ok"


def test_tsne_leaves_busy_cores_alone(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)  # leave_a_core=False: as from the CLI
    monkeypatch.setattr(os, "getloadavg", lambda: (1.0, 1.0, 1.0))  # only this process running
    assert cores.threads() == 4
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 3.0, 3.0))  # two other busy processes
    assert cores.threads() == 2
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    assert cores.threads() == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))  # as from the app
    assert cores.threads(leave_a_core=True) == 3


def test_the_opentsne_patch_leaves_other_versions_alone(monkeypatch):
    import openTSNE
    import openTSNE.affinity as affinity

    from explorer.maps import opentsne_fixes

    original = affinity.is_package_installed
    monkeypatch.setattr(openTSNE, "__version__", "9.9.9")
    assert not opentsne_fixes.install()
    assert affinity.is_package_installed is original
    monkeypatch.setattr(openTSNE, "__version__", opentsne_fixes.WRITTEN_FOR)
    monkeypatch.setattr(affinity, "is_package_installed", original)  # put back whatever install() does
    assert opentsne_fixes.install()
    assert affinity.is_package_installed("numpy") and not affinity.is_package_installed("no_such_package_here")
