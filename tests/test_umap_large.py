"""UMAP for the whole dataset (explorer/maps/umap_large.py): FAISS's neighbours are the exact
ones, the map is the same whatever the thread count, as trustworthy as the one-thread layout,
and a large map has a cache version of its own."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.maps import projection, umap_large, umap_layout
from explorer.maps.quality import trustworthiness
from helpers import REPO

N_CODES = 3000


@pytest.fixture(scope="module")
def codes() -> np.ndarray:
    """The shipped 16-D vae's codes of 3,000 Fashion-MNIST test images."""
    from explorer.analysis.latent import encode
    from explorer.checkpoints import load_checkpoint
    from explorer.data import load_dataset

    ckpt = load_checkpoint(REPO / "checkpoints" / "fashion-mnist" / "vae-16d")
    return encode(ckpt.model, load_dataset(ckpt.dataset, "test").images[:N_CODES])[0]


def test_faiss_neighbours_are_the_exact_ones(codes):
    idx, dist = umap_large.knn(codes, 15, threads=2)
    ref_idx, ref_dist = umap_layout.knn(codes, 15)
    assert (idx[:, 0] == np.arange(len(codes))).all() and (dist[:, 0] == 0).all()
    assert np.allclose(dist, ref_dist, atol=1e-6)
    assert np.mean((idx == ref_idx).all(1)) > 0.999          # a float near-tie may swap two neighbours
    got = np.linalg.norm(codes[:, None, :].astype(np.float64) - codes[idx].astype(np.float64), axis=2)
    assert np.allclose(got, dist, atol=1e-9)


def test_faiss_neighbours_of_many_equal_points_still_start_with_the_point_itself():
    x = np.zeros((40, 3), np.float32)   # 40 copies of one point: every distance is 0
    x[30:] = 1.0
    idx, dist = umap_large.knn(x, 15, threads=1)
    assert (idx[:, 0] == np.arange(40)).all()
    assert (dist[:30] == 0).all() and all(len(set(row)) == 15 for row in idx)


def test_a_large_map_is_the_same_whatever_the_thread_count(codes):
    x = codes[:1500]
    one = umap_layout.umap_map(x, 15, 0.1, seed=2, parallel_from=1000, threads=1)
    three = umap_layout.umap_map(x, 15, 0.1, seed=2, parallel_from=1000, threads=3)
    assert np.array_equal(one, three)
    other = umap_layout.umap_map(x, 15, 0.1, seed=3, parallel_from=1000, threads=2)
    assert np.abs(other - one).max() > 0.1 * np.ptp(one)


def test_a_large_map_is_as_trustworthy_as_the_one_thread_layout(codes):
    # The same number of epochs for both: the engines are compared, not the epochs (the whole
    # dataset's map takes fewer, measured against umap-learn by `python -m explorer bench --only bigmap`)
    small = umap_layout.umap_map(codes, 15, 0.1, seed=0)
    large = umap_layout.umap_map(codes, 15, 0.1, seed=0, parallel_from=1000, threads=2, n_epochs=umap_layout.N_EPOCHS)
    assert np.isfinite(large).all() and large.dtype == np.float32
    assert trustworthiness(codes, large) >= trustworthiness(codes, small) - 0.005


def test_a_large_map_has_a_cache_version_of_its_own(tmp_path):
    n = umap_layout.PARALLEL_FROM
    assert projection.algorithm_version("umap", n - 1) == projection.ALGORITHM_VERSION["umap"]
    assert projection.algorithm_version("umap", n) == projection.LARGE_UMAP_VERSION
    assert projection.algorithm_version("tsne", n) == projection.ALGORITHM_VERSION["tsne"]
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6.0, size=(10, 8))
    x = (centres[rng.integers(0, 10, n)] + rng.normal(size=(n, 8))).astype(np.float32)
    made = projection.project(x, "umap", seed=0, cache_dir=tmp_path)
    assert made.coords.shape == (n, 2) and np.isfinite(made.coords).all()
    again = projection.load_cached(tmp_path, "umap", x)
    assert again is not None and again.key == made.key
    assert again.extra["version"] == projection.LARGE_UMAP_VERSION


def test_neighbour_recall_is_one_for_a_faithful_map_and_near_zero_for_a_shuffled_one():
    from explorer.maps.quality import neighbour_recall

    x = np.random.default_rng(0).normal(size=(3000, 2))
    assert neighbour_recall(x, x, k=15, queries=500) == 1.0
    shuffled = x[np.random.default_rng(1).permutation(len(x))]
    assert neighbour_recall(x, shuffled, k=15, queries=500) < 0.05


def test_neighbour_recall_counts_k_neighbours_among_equal_points():
    from explorer.maps.quality import neighbour_recall

    x = np.repeat(np.random.default_rng(0).normal(size=(25, 4)) * 10, 40, axis=0)   # 25 clumps of 40 equal codes
    y = np.repeat(np.random.default_rng(1).normal(size=(25, 2)) * 10, 40, axis=0)   # each clump one spot on the map
    recall = neighbour_recall(x, y, k=15, queries=300)
    assert 0.0 <= recall <= 1.0
    assert neighbour_recall(np.zeros((50, 3)), np.zeros((50, 2)), k=10, queries=50) <= 1.0
