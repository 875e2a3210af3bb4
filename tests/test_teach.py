"""teach.py: the numbers the Learn and Anomalies pages show add up the way the maths says."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.analysis import latent, metrics, teach

from helpers import TINY_SHAPE as SHAPE
from helpers import tiny_model as tiny


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).random((20, *SHAPE), dtype=np.float32)


@pytest.mark.parametrize("kind", ["vae", "cvae", "hybrid"])
def test_explanation_follows_the_reparameterisation_and_the_elbo(kind, images):
    model = tiny(kind)
    ex = teach.explain(model, images[3], label=1, seed=7)
    mu, logvar = latent.encode(model, images[3:4], np.array([1]) if kind == "cvae" else None)
    assert np.allclose(ex.mu, mu[0]) and np.allclose(ex.sigma, np.exp(0.5 * logvar[0]))
    assert np.allclose(ex.z, ex.mu + ex.sigma * ex.eps, atol=1e-6)
    assert np.isclose(ex.recon_nats, ex.pixel_nll.sum(), rtol=1e-5)
    assert np.isclose(ex.kl_nats, ex.kl_per_dim.sum(), rtol=1e-5) and (ex.kl_per_dim >= -1e-6).all()
    assert ex.neg_elbo == pytest.approx(ex.recon_nats + ex.kl_nats)
    assert ex.recon.shape == SHAPE and 0 <= ex.recon.min() and ex.recon.max() <= 1
    # decoding z = mu is the reconstruction every other page shows
    assert np.allclose(ex.recon_at_mu, latent.reconstruct(model, images[3:4], np.array([1]) if kind == "cvae" else None)[0])


def test_the_seed_picks_epsilon(images):
    model = tiny()
    a, b, c = (teach.explain(model, images[0], seed=s) for s in (1, 1, 2))
    assert np.array_equal(a.eps, b.eps) and not np.array_equal(a.eps, c.eps)
    assert np.array_equal(a.mu, c.mu)             # the encoder does not depend on the noise


def test_anomaly_scores_are_per_image_and_agree_with_the_mean_elbo(images):
    model = tiny()
    s = teach.anomaly_scores(model, images, samples=2, seed=0)
    assert all(v.shape == (len(images),) for v in s.values())
    assert np.allclose(s["neg_elbo"], s["recon"] + s["kl"])
    mean = metrics.elbo_terms(model, images, samples=2, seed=0)
    assert s["neg_elbo"].mean() == pytest.approx(mean["neg_elbo"], rel=1e-5)


def test_anomaly_scores_are_kept_on_disk_per_checkpoint(images, tmp_path):
    model = tiny()
    where = teach.scores_file(tmp_path, "ckpt-a@123")
    assert where != teach.scores_file(tmp_path, "ckpt-a@124")    # a retrained checkpoint is scored anew
    first = teach.anomaly_scores(model, images, cache_file=where)
    assert where.is_file() and not list(where.parent.glob("*.tmp*"))
    with torch.no_grad():                                        # the file, not the model, answers now
        for p in model.parameters():
            p.add_(1.0)
    again = teach.anomaly_scores(model, images, cache_file=where)
    assert np.array_equal(first["neg_elbo"], again["neg_elbo"])
    fresh = teach.anomaly_scores(model, images[:5], cache_file=where)   # other images: not the cached ones
    assert not np.allclose(fresh["neg_elbo"], first["neg_elbo"][:5])


def test_extremes_pick_the_worst_and_best_overall_and_within_a_group():
    scores = np.array([5.0, 1.0, 9.0, 3.0, 7.0])
    worst, best = teach.extremes(scores, 2)
    assert worst.tolist() == [2, 4] and best.tolist() == [1, 3]
    worst, best = teach.extremes(scores, 5, among=np.array([0, 3]))
    assert worst.tolist() == [0, 3] and best.tolist() == [3, 0]
    assert teach.extremes(scores, 3, among=np.array([], dtype=np.int64))[0].size == 0
