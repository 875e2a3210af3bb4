"""Decision regions and disagreements (explorer.maps.regions) and their map layers (plots).

Run on the shipped digits checkpoints (a 2-D VAE and the CNN, trained: a freshly built
model calls everything one class, which would make the regions say nothing) and on the
real digits test set (360 images).
"""
from __future__ import annotations


import numpy as np
import pytest

from explorer.analysis import latent
from explorer.figures import plots
from explorer.maps import projection, regions
from explorer.checkpoints import load_checkpoint
from explorer.data import load_dataset
from helpers import REPO

SHIPPED = REPO / "checkpoints" / "digits"


@pytest.fixture(scope="module")
def shipped():
    vae = load_checkpoint(SHIPPED / "vae-2d").model
    cnn = load_checkpoint(SHIPPED / "classifier").model
    data = load_dataset("digits", "test")
    mu, _ = latent.encode(vae, data.images)
    return vae, cnn, data, mu


def test_regions_on_the_latent_plane_are_the_cnns_verdict_at_each_spot(shipped):
    vae, cnn, data, mu = shipped
    plane = projection.project(mu, "identity")
    reg = regions.regions(vae, cnn, plane, mu, n=24)
    assert reg.exact and reg.classes.shape == (24, 24)
    assert len(np.unique(reg.classes)) >= 5                       # a trained CNN splits the plane
    rng = np.random.default_rng(0)
    for r, c in rng.integers(0, 24, size=(12, 2)):                 # row r is y = ys[r], column c is x = xs[c]
        z = np.array([[reg.xs[c], reg.ys[r]]], np.float32)
        assert reg.classes[r, c] == latent.classify(cnn, latent.decode(vae, z))[0][0]
    x0, x1, y0, y1 = regions.extent(mu)
    assert reg.xs[0] == x0 and reg.xs[-1] == x1 and reg.ys[0] == y0 and reg.ys[-1] == y1
    assert x0 < mu[:, 0].min() and mu[:, 0].max() < x1          # every test point lies inside the shading


def test_regions_agree_with_the_cnn_on_most_test_points_of_their_cell(shipped):
    """Where a test code sits, the region's class is mostly what the CNN says of its reconstruction."""
    vae, cnn, data, mu = shipped
    reg = regions.regions(vae, cnn, projection.project(mu, "identity"), mu, n=60)
    c = np.abs(mu[:, 0:1] - reg.xs[None]).argmin(1)
    r = np.abs(mu[:, 1:2] - reg.ys[None]).argmin(1)
    recon_pred = regions.recon_predictions(vae, cnn, data.images)
    assert (reg.classes[r, c] == recon_pred).mean() > 0.8


def test_unplace_undoes_place():
    codes = np.random.default_rng(1).normal(size=(200, 5)).astype(np.float32)
    pca = projection.project(codes, "pca")
    on_plane = regions.unplace(pca, codes, pca.coords[:7])
    assert np.allclose(projection.place(pca, codes, on_plane), pca.coords[:7], atol=1e-4)
    fake_umap = projection.Projection(coords=pca.coords, method="umap", params={}, key="k", seconds=0.0,
                                      from_cache=True)
    back = regions.unplace(fake_umap, codes, pca.coords[:7])       # at a map point: that point's own code
    assert np.allclose(back, codes[:7], atol=1e-3)
    three = projection.Projection(coords=np.array([[0, 0], [2, 0], [9, 9]], np.float32), method="tsne", params={},
                                  key="k", seconds=0.0, from_cache=True)
    halfway = regions.unplace(three, codes[:3], [[1.0, 0.0]], k=2)  # equally near the first two points
    assert np.allclose(halfway[0], (codes[0] + codes[1]) / 2, atol=1e-5)


def test_regions_through_an_approximate_map_say_so(shipped):
    vae, cnn, data, mu = shipped
    plane = projection.project(mu, "identity")
    as_umap = projection.Projection(coords=plane.coords * 3 + 1, method="umap", params={}, key="k", seconds=0.0,
                                    from_cache=True)
    reg = regions.regions(vae, cnn, as_umap, mu, n=16)
    assert not reg.exact and "approximate" in reg.how and "UMAP" in reg.how
    assert len(np.unique(reg.classes)) >= 5


def test_disagreements():
    labels = np.array([0, 1, 2, 3])
    pred = np.array([0, 1, 1, 3])
    recon = np.array([0, 2, 1, 0])
    dis = regions.disagreements(labels, pred, recon)
    assert dis.wrong.tolist() == [False, False, True, False]
    assert dis.relabelled.tolist() == [False, True, False, True]
    with pytest.raises(ValueError, match="must match"):
        regions.disagreements(labels, pred, recon[:3])


def test_recon_predictions_on_real_digits(shipped):
    vae, cnn, data, mu = shipped
    rp = regions.recon_predictions(vae, cnn, data.images)
    pred, _ = latent.classify(cnn, data.images)
    assert rp.shape == (360,) and rp.dtype == np.int64
    assert 0.3 < (rp == pred).mean() < 1.0      # a 2-D VAE blurs some digits into another class


# ---------------------------------------------------------------- map layers

def test_region_layer_colours_each_class_as_the_points_and_sits_underneath():
    coords = np.random.default_rng(0).normal(size=(30, 2))
    fig = plots.latent_map(coords, "predicted", np.arange(30) % 3, ["a", "b", "c"])
    xs, ys = np.linspace(-1, 1, 4), np.linspace(-2, 2, 5)
    classes = np.arange(20).reshape(5, 4) % 3
    plots.add_regions(fig, xs, ys, classes, ["a", "b", "c"])
    heat = fig.data[0]
    assert heat.type == "heatmap" and np.array_equal(np.asarray(heat.z), classes)
    scale = heat.colorscale
    for k in range(3):  # the colour at value k is class k's colour, as on the points
        t = (k - heat.zmin) / (heat.zmax - heat.zmin)
        below = [c for v, c in scale if v <= t][-1]   # the stops either side of value k
        above = next(c for v, c in scale if v >= t)
        assert below == above == plots.class_color(k)
    with pytest.raises(ValueError, match="len"):
        plots.add_regions(fig, xs, ys, classes.T, ["a", "b", "c"])


def test_disagreement_marks_carry_the_test_indices():
    coords = np.random.default_rng(0).normal(size=(10, 2))
    fig = plots.latent_map(coords, "label", np.arange(10) % 2, ["a", "b"])
    wrong = np.zeros(10, bool)
    wrong[[2, 7]] = True
    relabelled = np.zeros(10, bool)
    relabelled[[7]] = True
    plots.add_disagreements(fig, coords, wrong, relabelled)
    marks = {t.name: t for t in fig.data}
    assert list(marks["CNN wrong"].customdata) == [2, 7]
    assert list(marks["recon. differs"].customdata) == [7]
    assert fig.data[-1].name == "CNN wrong"                        # crosses drawn over rings


@pytest.mark.slow
def test_umaps_own_inverse_after_a_refit_that_reproduces_the_map():
    codes = np.random.default_rng(3).normal(size=(300, 4)).astype(np.float32)
    codes[:150] += 4                                               # two clusters
    umap_map = projection.project(codes, "umap", {"n_neighbors": 10})
    reducer = regions.refit_umap(codes, umap_map)                  # same settings and seed: the same map
    back = reducer.inverse_transform(umap_map.coords[:5])
    assert np.linalg.norm(back - codes[:5], axis=1).mean() < 1.5   # near where those codes were
    moved = projection.Projection(coords=umap_map.coords[::-1].copy(), method="umap", params=umap_map.params,
                                  key="k", seconds=0.0, from_cache=True)
    with pytest.raises(projection.ProjectionError, match="did not reproduce"):
        regions.refit_umap(codes, moved)


def test_place_and_unplace_share_one_nearest_neighbour_rule():
    """Both ways are one function: values at the k nearest points, weighted by 1 / distance."""
    from explorer.maps.placement import nearest_mean

    rng = np.random.default_rng(0)
    points, values = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    assert np.allclose(nearest_mean(points[:5], points, values), values[:5])      # an exact match wins
    queries = rng.normal(size=(600, 3))                                           # more than one block
    d = np.linalg.norm(points[None] - queries[:, None], axis=2)
    near = np.argsort(d, axis=1)[:, :4]
    w = 1 / np.take_along_axis(d, near, 1)
    want = (w[:, :, None] * values[near]).sum(1) / w.sum(1, keepdims=True)
    assert np.allclose(nearest_mean(queries, points, values, k=4), want)
    # and both directions of a t-SNE-like map go through it
    proj = projection.Projection(coords=values.astype(np.float32), method="tsne", params={}, key="k", seconds=0.0,
                                 from_cache=True)
    assert np.allclose(projection.place(proj, points, queries[:7], k=4), nearest_mean(queries[:7], points, values, k=4),
                       atol=1e-5)
    assert np.allclose(regions.unplace(proj, points, values[:7] + 0.01, k=4),
                       nearest_mean(values[:7] + 0.01, values, points, k=4), atol=1e-5)
