"""Fault class 1, numbers that are not finite: NaN or infinite weights, codes, images and outputs
are caught where they enter, with a message naming what holds them, and never served.

- A checkpoint whose float tensors hold NaN (written by safetensors' own writer) is refused at
  load, for the model and for the optimizer state, naming the file and the tensor.
- A model whose weights are finite but whose outputs are not (overflow): `sample` and `predict`
  exit 2 and write nothing; analysis/latent.py raises AnalysisError.
- A cached map or encoding holding NaN is a miss: computed again, not served.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from explorer.analysis import latent
from explorer.analysis.errors import AnalysisError
from explorer.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from explorer.cli import main
from explorer.core import arraycache, diskcache
from explorer.core.errors import ExplorerError
from explorer.core.state import TrainState
from explorer.maps import projection
from helpers import tiny_model, tiny_model_cfg, tiny_train_cfg

pytestmark = pytest.mark.usefixtures("explorer_env")


def save_tiny(path: Path, kind: str = "vae", with_optimizer: bool = False) -> Path:
    """An untrained tiny checkpoint (8x8 digits); with an Adam state after one step if asked."""
    model = tiny_model(kind, latent_dim=2, num_classes=10)
    optimizer = None
    if with_optimizer:
        optimizer = torch.optim.Adam(model.parameters())
        sum(p.sum() for p in model.parameters()).backward()
        optimizer.step()
    return save_checkpoint(path, model, tiny_model_cfg(kind, latent_dim=2), tiny_train_cfg(), "digits",
                           TrainState(epoch=1), optimizer=optimizer)


def poison(file: Path, name: str, value: float = float("nan")) -> None:
    """Rewrite one tensor of a safetensors file with `value` in its first entry."""
    tensors = load_file(file)
    tensors[name].view(-1)[0] = value
    save_file(tensors, file)


def overflow(path: Path, prefix: str) -> None:
    """Finite weights whose sums overflow: +-3e38 alternating, in every float tensor under `prefix`."""
    file = path / "model.safetensors"
    tensors = load_file(file)
    for name, t in tensors.items():
        if name.startswith(prefix) and t.is_floating_point() and "running" not in name:
            signs = torch.where(torch.arange(t.numel()) % 2 == 0, 3e38, -3e38).reshape(t.shape)
            tensors[name] = signs.to(t.dtype)
    save_file(tensors, file)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- weights

@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_checkpoint_with_non_finite_weights_is_refused_at_load(tmp_path, value):
    path = save_tiny(tmp_path / "vae")
    poison(path / "model.safetensors", "decoder.fc.0.weight", value)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert str(path / "model.safetensors") in str(e.value) and "decoder.fc.0.weight" in str(e.value)
    assert "NaN or infinite" in str(e.value)
    assert load_checkpoint(path, with_model=False).kind == "vae", "its config is still listed and described"


def test_an_optimizer_state_with_nan_is_refused_for_resume(tmp_path):
    path = save_tiny(tmp_path / "vae", with_optimizer=True)
    assert load_checkpoint(path, with_optimizer=True).extra["optimizer_state"]["state"], "the clean one loads"
    name = next(k for k in load_file(path / "optimizer.safetensors") if k.endswith("exp_avg"))
    poison(path / "optimizer.safetensors", name)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path, with_optimizer=True)
    assert str(path / "optimizer.safetensors") in str(e.value) and name in str(e.value)


def test_sample_from_nan_weights_exits_2_and_writes_nothing(tmp_path, capsys):
    path = save_tiny(tmp_path / "vae")
    poison(path / "model.safetensors", "decoder.fc.0.bias")
    out = tmp_path / "samples.npy"
    code, _, err = run(capsys, "sample", "--checkpoint", path, "--n", "4", "--out", out)
    assert code == 2 and err.startswith("error: ") and "decoder.fc.0.bias" in err and "Traceback" not in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["vae"]


# ---------------------------------------------------------------- outputs

def test_sample_from_a_model_that_overflows_writes_nothing(tmp_path, capsys):
    path = save_tiny(tmp_path / "vae")
    overflow(path, "decoder")
    out = tmp_path / "samples.npy"
    code, _, err = run(capsys, "sample", "--checkpoint", path, "--n", "4", "--out", out)
    assert code == 2 and err.startswith("error: ") and "non-finite" in err, err
    assert not out.exists()


def test_predict_with_a_model_that_overflows_writes_nothing(tmp_path, capsys):
    path = save_tiny(tmp_path / "classifier", kind="classifier")
    overflow(path, "")
    images = tmp_path / "x.npy"
    np.save(images, np.full((3, 1, 8, 8), 0.5, np.float32))
    out = tmp_path / "pred.npy"
    code, _, err = run(capsys, "predict", "--checkpoint", path, "--images", images, "--out", out)
    assert code == 2 and err.startswith("error: ") and "non-finite" in err, err
    assert not out.exists()


def test_latent_refuses_non_finite_inputs_and_outputs():
    model = tiny_model("vae", latent_dim=2)
    images = np.full((2, 1, 8, 8), 0.5, np.float32)
    with pytest.raises(AnalysisError, match="NaN or infinite"):
        latent.decode(model, np.array([[0.0, np.nan]], np.float32))
    with pytest.raises(AnalysisError, match="NaN or infinite"):
        latent.encode(model, np.where(np.arange(images.size).reshape(images.shape) == 3, np.inf, images))
    with torch.no_grad():
        model.to_mu.bias.fill_(float("nan"))
    with pytest.raises(AnalysisError, match="non-finite codes") as e:
        latent.encode(model, images)
    assert isinstance(e.value, ExplorerError), "the app and the CLI show it as a message"


# ---------------------------------------------------------------- caches

def test_a_cached_encoding_with_nan_is_a_miss(tmp_path):
    good = (np.zeros((4, 2), np.float32),)
    calls = []

    def compute():
        calls.append(1)
        return good

    arraycache.arrays("encode", "m", "d", compute, root=tmp_path)
    path = arraycache.cache_path("encode", "m", "d", tmp_path)
    diskcache.write_npz(path, {"count": np.array(1), "a0": np.full((4, 2), np.nan, np.float32)})
    (again,) = arraycache.arrays("encode", "m", "d", compute, root=tmp_path)
    assert len(calls) == 2 and np.isfinite(again).all(), "computed again, not served"


def test_a_cached_map_with_nan_is_not_served(tmp_path):
    codes = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    proj = projection.project(codes, "pca", {}, cache_dir=tmp_path)
    (cached,) = list(tmp_path.glob("pca-*.npz"))
    arrays = diskcache.read_npz(cached)
    assert arrays is not None and projection.load_cached(tmp_path, "pca", codes) is not None
    arrays["coords"][0, 0] = np.nan
    diskcache.write_npz(cached, arrays)
    assert diskcache.read_npz(cached) is None and projection.load_cached(tmp_path, "pca", codes) is None
    again = projection.project(codes, "pca", {}, cache_dir=tmp_path)
    assert not again.from_cache and np.allclose(again.coords, proj.coords)
