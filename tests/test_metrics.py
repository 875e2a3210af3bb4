"""Test-set figures: hand-checked classification scores, the IWAE bound, active units,
conditional fidelity and diversity, the entropy floor, and sampling."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer.analysis.metrics import (
    active_units, classification_metrics, conditional_fidelity, elbo_terms, evaluate_model, iwae_nll,
    pixel_entropy_floor, predict_proba, sample_images,
)
from explorer.models import build_model
from explorer.training import train

from helpers import synthetic_dataset, tiny_model_cfg, tiny_train_cfg

LATENT = 4


@pytest.fixture(scope="module")
def data():
    return synthetic_dataset(128, seed=0)


@pytest.fixture(scope="module")
def trained_vae(data):
    """A tiny VAE trained past its early posterior collapse (160 steps, about a second),
    so that it uses some latent dimensions and its bounds mean something."""
    return train(tiny_model_cfg("vae", latent_dim=LATENT), tiny_train_cfg(epochs=20), data).model


@pytest.fixture(scope="module")
def trained_cvae(data):
    return train(tiny_model_cfg("cvae", latent_dim=LATENT), tiny_train_cfg(epochs=3), data).model


# ---------------------------------------------------------------- classification

def test_classification_metrics_by_hand():
    labels = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    m = classification_metrics(pred, labels, num_classes=3)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]  # rows true, columns predicted
    # class 0: p=1/2 r=1/2 f=1/2; class 1: p=2/3 r=1 f=4/5; class 2: p=1 r=1/2 f=2/3
    assert m["macro_f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)


def test_a_class_never_predicted_or_present_scores_zero_without_nan():
    m = classification_metrics(np.array([0, 0]), np.array([0, 1]), num_classes=3)
    assert m["accuracy"] == 0.5
    # class 0: p=1/2 r=1 f=2/3; class 1: never predicted, f=0; class 2: absent, f=0
    assert m["macro_f1"] == pytest.approx((2 / 3) / 3)
    assert all(math.isfinite(v) for v in (m["accuracy"], m["macro_f1"]))


def test_perfect_predictions():
    labels = np.arange(10) % 5
    m = classification_metrics(labels, labels, num_classes=5)
    assert m["accuracy"] == 1.0 and m["macro_f1"] == 1.0
    assert np.array_equal(np.array(m["confusion"]), 2 * np.eye(5, dtype=int))


def test_predict_proba_gives_distributions(data):
    model = build_model(tiny_model_cfg("classifier"))
    p = predict_proba(model, data.images[:7])
    assert p.shape == (7, 10)
    assert np.allclose(p.sum(1), 1.0, atol=1e-5) and (p >= 0).all()
    assert predict_proba(model, data.images[:0]).shape == (0, 10)


# ---------------------------------------------------------------- likelihood bounds

def test_iwae_is_a_tighter_bound_than_the_elbo(trained_vae, data):
    x = data.images[:64]
    elbo = elbo_terms(trained_vae, x, samples=50)["neg_elbo"]
    iwae_1 = iwae_nll(trained_vae, x, k=1)
    iwae_50 = iwae_nll(trained_vae, x, k=50)
    assert iwae_1 == pytest.approx(elbo, abs=1.0), "with one sample the IWAE estimate is the ELBO"
    assert iwae_50 <= elbo + 0.1
    assert iwae_50 < iwae_1
    assert iwae_50 > pixel_entropy_floor(x) - 1.0, "no decoder beats the entropy of the grey levels"


def test_elbo_terms_add_up(trained_vae, data):
    t = elbo_terms(trained_vae, data.images[:32], samples=2)
    assert t["neg_elbo"] == pytest.approx(t["recon"] + t["kl"])
    assert t["kl"] > 0 and t["recon"] > 0


def test_likelihood_figures_are_reproducible(trained_vae, data):
    x = data.images[:32]
    assert iwae_nll(trained_vae, x, k=5, seed=3) == iwae_nll(trained_vae, x, k=5, seed=3)
    assert elbo_terms(trained_vae, x, seed=3) == elbo_terms(trained_vae, x, seed=3)


def test_cvae_bounds_use_the_labels(trained_cvae, data):
    x, y = data.images[:32], data.labels[:32]
    right = iwae_nll(trained_cvae, x, y, k=10)
    wrong = iwae_nll(trained_cvae, x, (y + 1) % 10, k=10)
    assert math.isfinite(right) and right < wrong
    with pytest.raises(ValueError, match="labels"):
        iwae_nll(trained_cvae, x, None, k=2)


# ---------------------------------------------------------------- active units

def test_active_units_is_within_range(trained_vae, data):
    n = active_units(trained_vae, data.images)
    assert isinstance(n, int) and 0 <= n <= LATENT
    assert n >= 1, "a trained VAE uses at least one dimension"


def test_a_collapsed_encoder_has_no_active_units_and_a_wide_one_has_all(data):
    model = build_model(tiny_model_cfg("vae", latent_dim=LATENT))
    with torch.no_grad():
        model.to_mu.weight.zero_()
        model.to_mu.bias.fill_(0.3)
    assert active_units(model, data.images) == 0
    with torch.no_grad():
        model.to_mu.weight.normal_(0, 50.0)
    assert active_units(model, data.images) == LATENT


# ---------------------------------------------------------------- conditional generation

def test_conditional_fidelity_and_diversity_are_in_range(trained_cvae, data):
    clf = build_model(tiny_model_cfg("classifier"))
    m = conditional_fidelity(trained_cvae, clf, data.images, data.labels, n_per_class=20)
    assert 0.0 <= m["conditional_fidelity"] <= 1.0
    assert len(m["conditional_fidelity_per_class"]) == 10
    assert all(0.0 <= p <= 1.0 for p in m["conditional_fidelity_per_class"])
    assert m["conditional_fidelity"] == pytest.approx(np.mean(m["conditional_fidelity_per_class"]))
    assert m["sample_diversity"] > 0


def test_a_classifier_that_always_says_zero_gives_fidelity_one_tenth(trained_cvae, data):
    clf = build_model(tiny_model_cfg("classifier")).eval()
    with torch.no_grad():
        last = clf.head[-1]
        last.weight.zero_()
        last.bias.zero_()
        last.bias[0] = 10.0
    m = conditional_fidelity(trained_cvae, clf, data.images, data.labels, n_per_class=10)
    assert m["conditional_fidelity_per_class"] == [1.0] + [0.0] * 9
    assert m["conditional_fidelity"] == pytest.approx(0.1)


# ---------------------------------------------------------------- entropy floor

def test_pixel_entropy_floor_of_black_and_white_images_is_zero():
    images = (np.random.default_rng(0).random((5, 1, 8, 8)) < 0.5).astype(np.float32)
    assert pixel_entropy_floor(images) == pytest.approx(0.0, abs=1e-6)


def test_pixel_entropy_floor_of_mid_grey_is_log_2_a_pixel():
    images = np.full((3, 1, 8, 8), 0.5, np.float32)
    assert pixel_entropy_floor(images) == pytest.approx(64 * math.log(2))


# ---------------------------------------------------------------- sampling

def test_samples_are_images_in_range(trained_vae):
    s = sample_images(trained_vae, 6, seed=0)
    assert s.shape == (6, 1, 8, 8) and s.dtype == np.float32
    assert s.min() >= 0.0 and s.max() <= 1.0
    assert np.array_equal(s, sample_images(trained_vae, 6, seed=0)), "same seed, same samples"
    assert not np.allclose(s, sample_images(trained_vae, 6, seed=1))
    assert len({x.tobytes() for x in s}) == 6, "six different draws"


def test_zero_temperature_decodes_the_prior_mean(trained_vae):
    s = sample_images(trained_vae, 4, temperature=0.0)
    assert np.allclose(s, s[0])


def test_cvae_samples_follow_the_label(trained_cvae):
    a = sample_images(trained_cvae, 5, label=0, seed=0)
    b = sample_images(trained_cvae, 5, label=7, seed=0)
    assert a.shape == b.shape == (5, 1, 8, 8)
    assert not np.allclose(a, b), "the same z decoded for another class gives other images"
    with pytest.raises(ValueError, match="labels"):
        sample_images(trained_cvae, 5)


# ---------------------------------------------------------------- everything at once

@pytest.mark.parametrize("kind", ["vae", "cvae", "hybrid", "classifier"])
def test_evaluate_model_reports_the_figures_of_its_kind(kind, data):
    model = build_model(tiny_model_cfg(kind, latent_dim=LATENT))
    clf = build_model(tiny_model_cfg("classifier")) if kind == "cvae" else None
    m = evaluate_model(model, data.images[:40], data.labels[:40], iwae_k=3, classifier=clf)
    assert m["kind"] == kind and m["n_test"] == 40
    vae_keys = {"neg_elbo", "recon", "kl", "iwae_nll", "active_units", "pixel_entropy_floor"}
    clf_keys = {"accuracy", "macro_f1", "confusion"}
    assert (vae_keys <= set(m)) == (kind != "classifier")
    assert (clf_keys <= set(m)) == (kind in ("classifier", "hybrid"))
    assert ("conditional_fidelity" in m) == (kind == "cvae")
