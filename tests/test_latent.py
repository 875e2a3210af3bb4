"""latent.py on tiny, freshly built models: shapes, ranges and the invariants a user relies on."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.analysis import latent

from helpers import TINY_SHAPE as SHAPE
from helpers import tiny_model as tiny


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).random((25, *SHAPE), dtype=np.float32)


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    return np.arange(25) % 3


def test_encode_decode_shapes_and_ranges(images):
    model = tiny()
    mu, logvar = latent.encode(model, images, batch_size=7)  # several batches, ragged last one
    assert mu.shape == logvar.shape == (25, 3) and mu.dtype == np.float32
    out = latent.decode(model, mu, batch_size=4)
    assert out.shape == (25, *SHAPE) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert np.allclose(latent.reconstruct(model, images), out, atol=1e-6)


def test_images_of_the_wrong_shape_are_refused_clearly():
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\)"):
        latent.encode(tiny(), np.zeros((2, 1, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\)"):
        latent.classify(tiny("classifier"), np.zeros((2, 8, 8), np.float32))


def test_batching_does_not_change_results(images):
    model = tiny()
    a, _ = latent.encode(model, images, batch_size=1000)
    b, _ = latent.encode(model, images, batch_size=3)
    assert np.allclose(a, b, atol=1e-5)


def test_cvae_needs_labels_and_broadcasts_an_int(images, labels):
    model = tiny("cvae")
    with pytest.raises(ValueError, match="label"):
        latent.encode(model, images)
    mu, _ = latent.encode(model, images, labels)
    as_int = latent.decode(model, mu[:4], 2)
    as_array = latent.decode(model, mu[:4], np.full(4, 2))
    assert np.allclose(as_int, as_array)
    assert not np.allclose(latent.decode(model, mu[:4], 0), as_int)  # the class changes the image
    with pytest.raises(ValueError, match="0..2"):
        latent.decode(model, mu[:4], 7)


def test_recon_error_is_per_image_bernoulli_nll(images):
    model = tiny()
    err = latent.recon_error(model, images)
    assert err.shape == (25,) and (err > 0).all()
    recon = latent.reconstruct(model, images).astype(np.float64)
    p = np.clip(recon, 1e-7, 1 - 1e-7)
    manual = -(images * np.log(p) + (1 - images) * np.log(1 - p)).reshape(25, -1).sum(1)
    assert np.allclose(err, manual, rtol=1e-3)


def test_kl_per_dim_ranks_the_used_dimension_first():
    rng = np.random.default_rng(0)
    mu = np.zeros((100, 4))
    mu[:, 2] = rng.normal(0, 2, 100)  # only dimension 2 carries information
    logvar = np.zeros((100, 4))
    logvar[:, 2] = -2.0
    kl = latent.kl_per_dim(mu, logvar)
    assert kl.shape == (4,)
    assert np.allclose(kl[[0, 1, 3]], 0) and kl[2] > 1
    assert latent.active_order(mu, logvar)[0] == 2


def test_traverse_row_changes_only_its_dimension():
    model = tiny(latent_dim=4)
    base = np.array([0.5, -0.2, 0.1, 0.3], np.float32)
    values = np.linspace(-2, 2, 5)
    grid = latent.traverse(model, base, dims=[3, 1], values=values)
    assert grid.shape == (2, 5, *SHAPE)
    for row, dim in enumerate([3, 1]):
        codes = np.repeat(base[None], 5, 0)
        codes[:, dim] = values
        assert np.allclose(grid[row], latent.decode(model, codes), atol=1e-6)
    assert not np.allclose(grid[0, 0], grid[0, -1])  # moving the dimension moves the image
    per_row = latent.traverse(model, base, dims=[0, 2], values=np.stack([values, 2 * values]))
    assert per_row.shape == (2, 5, *SHAPE)


def test_traversal_values_use_the_posterior_spread():
    mu = np.random.default_rng(0).normal([1.0, 0.0], [0.5, 0.0], size=(1000, 2))
    v = latent.traversal_values(mu, 0, n=7, span=3.0)
    assert v.shape == (7,) and v[3] == pytest.approx(mu[:, 0].mean(), abs=1e-5)
    assert v[-1] - v[0] == pytest.approx(6 * mu[:, 0].std(), rel=1e-4)
    collapsed = latent.traversal_values(mu, 1)
    assert collapsed[-1] - collapsed[0] == pytest.approx(6.0)  # falls back to the prior's std


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_interpolate_includes_both_ends(method):
    z0, z1 = np.array([1.0, 0.0, 2.0]), np.array([-1.0, 3.0, 0.5])
    path = latent.interpolate(z0, z1, 9, method)
    assert path.shape == (9, 3) and path.dtype == np.float32
    assert np.allclose(path[0], z0) and np.allclose(path[-1], z1)


def test_slerp_keeps_the_norm_and_handles_parallel_codes():
    rng = np.random.default_rng(1)
    z0, z1 = rng.normal(size=8), rng.normal(size=8)
    z1 *= np.linalg.norm(z0) / np.linalg.norm(z1)
    path = latent.interpolate(z0, z1, 11, "slerp")
    assert np.allclose(np.linalg.norm(path, axis=1), np.linalg.norm(z0), rtol=1e-5)
    linear_mid = np.linalg.norm(latent.interpolate(z0, z1, 11, "linear")[5])
    assert linear_mid < np.linalg.norm(z0)  # what slerp avoids: the linear midpoint shrinks
    parallel = latent.interpolate(z0, 2 * z0, 5, "slerp")
    assert np.isfinite(parallel).all()
    assert np.allclose(parallel, latent.interpolate(z0, 2 * z0, 5, "linear"))


def test_sample_prior_is_seeded():
    model = tiny()
    a, za = latent.sample_prior(model, 6, seed=3)
    b, zb = latent.sample_prior(model, 6, seed=3)
    c, _ = latent.sample_prior(model, 6, seed=4)
    assert a.shape == (6, *SHAPE) and za.shape == (6, 3)
    assert np.array_equal(a, b) and np.array_equal(za, zb) and not np.allclose(a, c)
    _, z_cold = latent.sample_prior(model, 6, seed=3, temperature=0.5)
    assert np.allclose(z_cold, 0.5 * za)
    cimgs, _ = latent.sample_prior(tiny("cvae"), 4, label=1)
    assert cimgs.shape == (4, *SHAPE)


def test_class_means():
    mu = np.array([[0, 0], [2, 2], [10, 10], [12, 12]], np.float32)
    means = latent.class_means(mu, np.array([0, 0, 2, 2]), 3)
    assert np.allclose(means, [[1, 1], [0, 0], [11, 11]])  # class 1 has no points: the origin


@pytest.mark.parametrize("kind", ["classifier", "hybrid"])
def test_classify(kind, images):
    pred, proba = latent.classify(tiny(kind), images, batch_size=10)
    assert pred.shape == (25,) and pred.dtype == np.int64
    assert proba.shape == (25, 3) and proba.dtype == np.float32
    assert np.allclose(proba.sum(1), 1, atol=1e-5) and np.array_equal(pred, proba.argmax(1))


def test_classify_rejects_a_plain_vae(images):
    with pytest.raises(ValueError, match="no classifier"):
        latent.classify(tiny("vae"), images)


def test_label_changes():
    assert latent.label_changes([3, 3, 5, 5, 5, 3, 1]) == [2, 5, 6]
    assert latent.label_changes([1, 1, 1]) == []
    assert latent.label_changes([]) == []


def test_nearest():
    pts = np.array([[0, 0], [1, 0], [5, 5], [0.2, 0.1]], np.float32)
    assert latent.nearest(pts, np.array([0.0, 0.0]), k=3).tolist() == [0, 3, 1]
    assert latent.nearest(pts, np.array([[5.0, 5.0], [1.0, 0.0]]), k=1).tolist() == [[2], [1]]
    assert len(latent.nearest(pts, np.zeros(2), k=10)) == 4


def test_uint8_pixels_are_converted_a_batch_at_a_time_to_the_same_codes(tiny_test_data):
    """The test set is passed as its uint8 pixels; the codes, predictions and errors are those of
    the float32 images."""
    vae, cnn = tiny("vae"), tiny("classifier")
    pixels, images = tiny_test_data.pixels, tiny_test_data.images
    for got, want in zip(latent.encode(vae, pixels, batch_size=7), latent.encode(vae, images)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)  # batch sizes may change the sums' order
    np.testing.assert_allclose(latent.classify(cnn, pixels, batch_size=5)[1], latent.classify(cnn, images)[1],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(latent.recon_error(vae, pixels, batch_size=9), latent.recon_error(vae, images),
                               rtol=1e-5)
