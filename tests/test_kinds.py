"""The one table of model kinds, and the rule that only a conditional model is given labels."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.core import kinds
from explorer.core.config import MODEL_KINDS, VAE_KINDS, ModelConfig
from explorer.models import MODELS, build_model


def test_the_table_names_every_kind_the_registry_builds():
    assert MODEL_KINDS == ("vae", "cvae", "hybrid", "classifier")
    assert VAE_KINDS == ("vae", "cvae", "hybrid") and kinds.CLASSIFYING_KINDS == ("hybrid", "classifier")
    assert set(MODELS) == set(MODEL_KINDS)
    for name, kind in kinds.KINDS.items():
        assert bool(getattr(MODELS[name], "conditional", False)) == kind.conditional


def test_titles_labels_and_first_time_order_are_what_the_pages_showed():
    assert [kinds.title(k) for k in MODEL_KINDS] == [
        "Variational autoencoder", "Conditional variational autoencoder", "Hybrid VAE with a classifier head",
        "CNN classifier"]
    assert [kinds.label(k) for k in VAE_KINDS] == ["Plain VAE", "Conditional VAE", "Hybrid VAE + classifier head"]
    assert sorted(VAE_KINDS, key=kinds.rank) == ["vae", "hybrid", "cvae"]
    assert kinds.rank("") == 9 and kinds.title("mystery") == "mystery"
    assert {k: v.default_lambda for k, v in kinds.KINDS.items()} == {"vae": None, "cvae": 0.0, "hybrid": 10.0,
                                                                     "classifier": None}


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_labels_go_to_a_conditional_model_only(kind):
    cfg = ModelConfig(kind=kind, image_shape=(1, 8, 8), latent_dim=2, channels=(4, 4))
    model = build_model(cfg)
    labels = np.arange(3)
    for x in (kind, cfg, model):
        assert (kinds.condition(x, labels) is labels) == (kind == "cvae")
        assert kinds.is_conditional(x) == (kind == "cvae")


def test_a_model_of_no_known_kind_answers_by_its_own_attribute():
    class Plain:
        conditional = False

    class Conditional:
        conditional = True

    assert kinds.condition(Plain(), [1]) is None and kinds.condition(Conditional(), [1]) == [1]
    assert not kinds.is_conditional("mystery")
