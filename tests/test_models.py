"""Models and configs: every kind builds for any image size, returns named outputs of the
right shapes, has a finite loss that trains every parameter, and bad configs are refused."""
from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from explorer.core.config import MAX_LATENT_DIM, MODEL_KINDS, ConfigError, ModelConfig, TrainConfig
from explorer.models import MODELS, ClassifierOutput, VAEOutput, bernoulli_nll, build_model, gaussian_kl
from helpers import tiny_model_cfg

SHAPES = [(1, 28, 28), (1, 8, 8), (1, 12, 8)]
BATCH = 5


def batch(shape, n: int = BATCH, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=g), torch.arange(n) % 10


# ---------------------------------------------------------------- registry and shapes

def test_registry_covers_every_kind():
    assert set(MODELS) == set(MODEL_KINDS)
    for kind in MODEL_KINDS:  # each kind builds its own class: a VAE decodes, only a classifier does not
        model = build_model(tiny_model_cfg(kind))
        assert type(model) is MODELS[kind]
        assert hasattr(model, "decode") == (kind != "classifier")
    assert len(set(MODELS.values())) == len(MODEL_KINDS)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[1]}x{s[2]}")
@pytest.mark.parametrize("kind", ["vae", "cvae", "hybrid"])
def test_vae_forward_shapes(kind, shape):
    model = build_model(tiny_model_cfg(kind, image_shape=shape, latent_dim=3))
    assert type(model) is MODELS[kind]
    x, y = batch(shape)
    out = model(x, y)
    assert isinstance(out, VAEOutput)
    assert out.logits.shape == (BATCH, *shape)
    for t in (out.mu, out.logvar, out.z):
        assert t.shape == (BATCH, 3)
    if kind == "hybrid":
        assert out.class_logits.shape == (BATCH, 10)
    else:
        assert out.class_logits is None


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[1]}x{s[2]}")
def test_classifier_forward_shapes(shape):
    model = build_model(tiny_model_cfg("classifier", image_shape=shape))
    x, _ = batch(shape)
    out = model(x)
    assert isinstance(out, ClassifierOutput)
    assert out.logits.shape == (BATCH, 10)
    assert torch.equal(model.eval().classify(x), model(x).logits)


@pytest.mark.parametrize("kind", ["vae", "cvae", "hybrid"])
def test_eval_forward_uses_the_posterior_mean(kind):
    """In eval mode a reconstruction is deterministic: z is the mean, not a sample."""
    model = build_model(tiny_model_cfg(kind)).eval()
    x, y = batch((1, 8, 8))
    with torch.no_grad():
        a, b = model(x, y), model(x, y)
    assert torch.equal(a.z, a.mu)
    assert torch.equal(a.logits, b.logits)
    model.train()
    with torch.no_grad():
        sampled = model(x, y)
    assert not torch.equal(sampled.z, sampled.mu)


# ---------------------------------------------------------------- losses and gradients

@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8)], ids=["28x28", "8x8"])
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_loss_is_finite_and_reaches_every_parameter(kind, shape):
    cfg = tiny_model_cfg(kind, image_shape=shape, cls_weight=1.0 if kind == "hybrid" else 0.0)
    model = build_model(cfg).train()
    x, y = batch(shape)
    out = model.loss(x, y)
    assert out.total.shape == ()
    assert torch.isfinite(out.total)
    for name, value in out.terms.items():
        assert torch.isfinite(value), name
        assert not value.requires_grad, f"{name} should be detached for logging"
    out.total.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} got an all-zero gradient"


@pytest.mark.parametrize("kind", ["vae", "cvae", "hybrid"])
def test_vae_terms_are_the_elbo_and_beta_weights_only_the_kl(kind):
    model = build_model(tiny_model_cfg(kind, beta=4.0))
    x, y = batch((1, 8, 8))
    out = model.loss(x, None if kind == "hybrid" else y)
    t = out.terms
    assert set(t) == {"recon", "kl", "neg_elbo"}
    assert t["neg_elbo"].item() == pytest.approx(t["recon"].item() + t["kl"].item(), rel=1e-5)
    assert out.total.item() == pytest.approx(t["recon"].item() + 4.0 * t["kl"].item(), rel=1e-5)
    assert t["kl"].item() >= 0
    # a random decoder pays about log 2 nats per pixel, never less than 0
    assert 0 < t["recon"].item() < 64 * 2


def test_hybrid_adds_lambda_times_cross_entropy():
    model = build_model(tiny_model_cfg("hybrid", cls_weight=3.0))
    x, y = batch((1, 8, 8))
    torch.manual_seed(0)
    out = model.loss(x, y)
    t = out.terms
    assert {"ce", "acc"} <= set(t)
    assert 0.0 <= t["acc"].item() <= 1.0
    assert out.total.item() == pytest.approx(t["recon"].item() + t["kl"].item() + 3.0 * t["ce"].item(), rel=1e-5)


def test_hybrid_classify_uses_the_head_on_the_mean():
    model = build_model(tiny_model_cfg("hybrid")).eval()
    x, _ = batch((1, 8, 8))
    with torch.no_grad():
        assert torch.equal(model.classify(x), model(x).class_logits)


def test_cvae_refuses_missing_labels():
    model = build_model(tiny_model_cfg("cvae"))
    x, _ = batch((1, 8, 8))
    for call in (lambda: model(x), lambda: model.loss(x), lambda: model.encode(x),
                 lambda: model.decode(torch.zeros(BATCH, 2))):
        with pytest.raises(ValueError, match="labels"):
            call()


def test_cvae_decoder_depends_on_the_label():
    model = build_model(tiny_model_cfg("cvae")).eval()
    z = torch.zeros(3, 2)
    with torch.no_grad():
        for p in model.decoder.parameters():  # FiLM starts at identity; give it some effect
            p.add_(0.1 * torch.randn_like(p))
        a = model.decode(z, torch.tensor([0, 0, 0]))
        b = model.decode(z, torch.tensor([0, 1, 2]))
    assert torch.equal(a[0], b[0])
    assert not torch.allclose(a[1], b[1])


def test_cvae_lambda_teaches_the_decoder_through_a_frozen_aux_net():
    """With lambda, the aux CNN learns only from real images, and the decoder learns from how
    the aux net judges its prior samples."""
    cfg = tiny_model_cfg("cvae", cls_weight=5.0)
    model = build_model(cfg).train()
    assert build_model(tiny_model_cfg("cvae")).aux is None, "a plain cvae has no aux net (old checkpoints load)"
    x, y = batch((1, 8, 8))
    torch.manual_seed(0)
    out = model.loss(x, y)
    t = out.terms
    assert {"aux_ce", "aux_acc", "gen_ce", "gen_acc"} <= set(t)
    assert out.total.item() == pytest.approx(t["recon"].item() + t["kl"].item() + t["aux_ce"].item()
                                             + 5.0 * t["gen_ce"].item(), rel=1e-4)
    # the sample term alone: gradients reach the decoder and never the aux net
    model.zero_grad()
    z = torch.randn(BATCH, cfg.latent_dim)
    samples = torch.sigmoid(model.decode(z, y))
    frozen = {name: p.detach() for name, p in model.aux.named_parameters()}
    torch.nn.functional.cross_entropy(torch.func.functional_call(model.aux, frozen, (samples,)), y).backward()
    assert all(p.grad is None for p in model.aux.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoder.parameters())
    # in eval mode the loss is the plain ELBO, comparable with any other VAE's
    assert set(model.eval().loss(x, y).terms) == {"recon", "kl", "neg_elbo"}


def test_encoder_depth_adds_residual_blocks_to_the_encoder():
    from explorer.models.layers import ResBlock
    plain, deep = build_model(tiny_model_cfg("vae")), build_model(tiny_model_cfg("vae", enc_depth=2))
    assert sum(isinstance(m, ResBlock) for m in deep.encoder.modules()) == 4
    assert not any(isinstance(m, ResBlock) for m in plain.encoder.modules())
    assert sum(p.numel() for p in deep.parameters()) > sum(p.numel() for p in plain.parameters())
    x, _ = batch((1, 8, 8))
    assert deep.eval()(x).mu.shape == plain.eval()(x).mu.shape


def test_classifier_needs_labels_to_train():
    model = build_model(tiny_model_cfg("classifier"))
    with pytest.raises(ValueError, match="labels"):
        model.loss(batch((1, 8, 8))[0])


# ---------------------------------------------------------------- the maths

def test_gaussian_kl_matches_the_closed_form_by_hand():
    mu = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)], [0.0, 0.0]])
    # -0.5 * [(1 + 0 - 1 - 1) + (1 + log 4 - 4 - 4)] = 4 - log 2; the prior itself has KL 0
    expected = torch.tensor([4.0 - math.log(2.0), 0.0])
    assert torch.allclose(gaussian_kl(mu, logvar), expected)


def test_gaussian_kl_agrees_with_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    assert torch.allclose(gaussian_kl(mu, logvar), kl_divergence(q, p).sum(1), atol=1e-5)


def test_bernoulli_nll_by_hand():
    logits = torch.zeros(1, 1, 2, 2)  # p = 0.5 everywhere: log 2 nats a pixel, whatever x is
    x = torch.tensor([[[[0.0, 1.0], [0.5, 1.0]]]])
    assert bernoulli_nll(logits, x).item() == pytest.approx(4 * math.log(2))
    confident = torch.full((1, 1, 2, 2), 20.0)  # p ~ 1
    assert bernoulli_nll(confident, torch.ones(1, 1, 2, 2)).item() == pytest.approx(0.0, abs=1e-7)


# ---------------------------------------------------------------- configs

@pytest.mark.parametrize("changes, words", [
    ({"kind": "gan"}, "unknown model kind"),
    ({"latent_dim": 10**9}, "latent_dim"),
    ({"latent_dim": 0}, "latent_dim"),
    ({"image_shape": (1, 10, 10)}, "divisible by 4"),
    ({"image_shape": (1, 28)}, "(C, H, W)"),
    ({"image_shape": (1, 1024, 1024)}, "out of range"),
    ({"channels": (4, 8, 16)}, "channels"),
    ({"num_classes": 1}, "num_classes"),
    ({"beta": -1.0}, "beta"),
    ({"dropout": 1.0}, "dropout"),
])
def test_model_config_refuses_bad_values(changes, words):
    with pytest.raises(ConfigError) as err:
        ModelConfig(**changes)
    assert words in str(err.value)


def test_model_config_refuses_a_bad_value_set_later():
    cfg = tiny_model_cfg()
    cfg.latent_dim = MAX_LATENT_DIM + 1
    with pytest.raises(ConfigError):
        build_model(cfg)


def test_model_config_round_trips_through_a_dict():
    cfg = tiny_model_cfg("hybrid", image_shape=(1, 28, 28), latent_dim=7, cls_weight=2.5)
    again = ModelConfig.from_dict(cfg.to_dict())
    assert again == cfg
    assert again.image_shape == (1, 28, 28) and again.channels == (4, 8)


@pytest.mark.parametrize("bad", [
    {"kind": "vae", "latnet_dim": 4},          # a typo is not silently ignored
    ["vae"],                                    # not an object
    {"latent_dim": "sixteen"},                  # wrong type
    {"latent_dim": 2.5},                        # a size must be a whole number
    {"channels": ["a", "b"]},
    {"image_shape": "abc"},
])
def test_model_config_from_dict_refuses_bad_input(bad):
    with pytest.raises(ConfigError):
        ModelConfig.from_dict(bad)


def test_from_dict_names_the_unknown_field():
    with pytest.raises(ConfigError, match="latnet_dim"):
        ModelConfig.from_dict({"latnet_dim": 4})


@pytest.mark.parametrize("changes", [
    {"lr": 0.0}, {"lr": 2.0}, {"epochs": 0}, {"batch_size": 0}, {"augment": "rotate"},
    {"lr_schedule": "step"}, {"kl_warmup_epochs": -1.0}, {"max_steps": -1}, {"epochs": 2.5},
])
def test_train_config_refuses_bad_values(changes):
    with pytest.raises(ConfigError):
        TrainConfig(**changes)


def test_train_config_from_dict_refuses_unknown_fields():
    with pytest.raises(ConfigError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})
