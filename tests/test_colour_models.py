"""Every model kind on colour and grey images at the working sides (28, 32, 64, and digits' 8):
it trains a step, saves, loads back to the same outputs; a 64 px model's dense layer stays small
(a third stride-2 stage); the checkpoints made before the option still load."""
from __future__ import annotations

import pytest
import torch

from explorer.checkpoints import load_checkpoint, save_checkpoint
from explorer.core.config import ConfigError, ModelConfig
from explorer.core.state import TrainState
from explorer.models import build_model, count_parameters
from helpers import REPO, tiny_model_cfg, tiny_train_cfg

SHAPES = [(3, 32, 32), (3, 64, 64), (1, 64, 64), (3, 28, 28), (1, 8, 8)]
KINDS = ["vae", "cvae", "hybrid", "classifier"]


def _batch(shape, n: int = 4):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, *shape, generator=g), torch.arange(n) % 3


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_trains_saves_and_loads_at_every_shape(kind, shape, tmp_path):
    torch.manual_seed(0)
    cfg = tiny_model_cfg(kind, image_shape=shape, latent_dim=3, num_classes=3, cls_weight=1.0)
    model = build_model(cfg)
    x, y = _batch(shape)
    before = model.loss(x, y).total
    before.backward()
    assert torch.isfinite(before)
    model.eval()
    with torch.no_grad():
        out = model.decode(torch.zeros(2, 3), y[:2]) if kind != "classifier" else model.classify(x)
    if kind != "classifier":
        assert out.shape == (2, *shape)  # the decoder gives back the channels and side it was given
    save_checkpoint(tmp_path / "ck", model, cfg, tiny_train_cfg(), "digits", TrainState())
    again = load_checkpoint(tmp_path / "ck")
    assert tuple(again.model_cfg.image_shape) == shape and again.model_cfg.stages == cfg.stages
    with torch.no_grad():
        out2 = again.model.decode(torch.zeros(2, 3), y[:2]) if kind != "classifier" else again.model.classify(x)
    assert torch.allclose(out, out2, atol=1e-6)


def test_a_64px_model_gets_a_third_stage_and_a_small_dense_layer():
    small = build_model(tiny_model_cfg("vae", image_shape=(3, 32, 32)))
    big = build_model(tiny_model_cfg("vae", image_shape=(3, 64, 64)))
    assert big.cfg.stages == 3 and small.cfg.stages == 2
    # both dense layers see 8x8 features, so the 64 px model is barely bigger than the 32 px one
    assert big.encoder.fc[0].in_features == small.encoder.fc[0].in_features == 8 * 8 * 8
    assert count_parameters(big) < 1.5 * count_parameters(small)


def test_two_stages_at_64px_is_still_a_choice():
    cfg = tiny_model_cfg("vae", image_shape=(3, 64, 64), stages=2)
    assert build_model(cfg).encoder.fc[0].in_features == 8 * 16 * 16


@pytest.mark.parametrize("changes, words", [
    ({"image_shape": (3, 28, 28), "stages": 3}, "divisible by 8"),
    ({"stages": 4}, "stages must be 2 or 3"),
])
def test_impossible_stages_are_refused_with_the_reason(changes, words):
    with pytest.raises(ConfigError, match=words):
        tiny_model_cfg("vae", **changes)


def test_a_config_written_before_stages_existed_reads_as_two_stages():
    d = ModelConfig(image_shape=(1, 28, 28)).to_dict()
    del d["stages"]
    assert ModelConfig.from_dict(d).stages == 2


@pytest.mark.parametrize("name", ["digits/vae-8d", "digits/classifier", "fashion-mnist/cvae-16d-lambda10",
                                  "fashion-mnist/hybrid-16d-lambda20"])
def test_shipped_checkpoints_still_load(name):
    path = REPO / "checkpoints" / name
    if not path.is_dir():
        pytest.skip(f"{path} is not in this checkout")
    ckpt = load_checkpoint(path)  # every weight name and shape must match the two-stage layout
    assert ckpt.model_cfg.stages == 2


def test_a_checkpoint_of_another_shape_than_its_dataset_is_named_with_both_shapes(colour_dataset, tmp_path):
    from explorer.checkpoints import CheckpointError
    from explorer.training.evaluate import run_evaluate
    from helpers import COLOUR_NAME

    cfg = tiny_model_cfg("vae", image_shape=(1, 8, 8), num_classes=3)
    save_checkpoint(tmp_path / "grey", build_model(cfg), cfg, tiny_train_cfg(dataset=COLOUR_NAME), COLOUR_NAME,
                    TrainState())
    with pytest.raises(CheckpointError) as e:
        run_evaluate(tmp_path / "grey", iwae_k=0)
    assert "8x8 grey (1 channel)" in str(e.value) and "32x32 colour (3 channels)" in str(e.value)
    assert not (tmp_path / "grey" / "metrics.json").exists()  # nothing half-written
