"""Tiny checkpoints for the app tests, trained for a few steps on the bundled digits set.

`build_tiny_checkpoints(root)` writes, under `root/`:

    digits/vae-2d        plain VAE, 2-D latent (the app's default: shown as its own plane)
    digits/cvae-4d       conditional VAE, 4-D latent
    digits/hybrid-10d    VAE with a classifier head (10-D: more sliders than fit, so an expander)
    digits/classifier    the CNN that judges every image
    digits/broken        config.json is garbage: must give a message, never a traceback
    digits/clf-fashion   a classifier whose config says it was trained on fashion-mnist
    mnist/vae-2d         a VAE for a dataset whose files are missing (with the cache dir
                         pointed at an empty folder)

The app is pointed at the root with EXPLORER_CHECKPOINTS=<root> and EXPLORER_CHECKPOINTS_ONLY=1,
so the repository's own checkpoints/ stay out of the tests.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from explorer.checkpoints import save_checkpoint
from explorer.core.config import ModelConfig, TrainConfig
from explorer.data import load_dataset
from explorer.training import train

MODELS = {  # name: (kind, latent_dim)
    "vae-2d": ("vae", 2),
    "cvae-4d": ("cvae", 4),
    "hybrid-10d": ("hybrid", 10),
    "classifier": ("classifier", 4),
}


def _cfgs(kind: str, latent_dim: int, dataset: str = "digits") -> tuple[ModelConfig, TrainConfig]:
    model_cfg = ModelConfig(kind=kind, image_shape=(1, 8, 8), num_classes=10, latent_dim=latent_dim,
                            channels=(4, 8), hidden=16)
    train_cfg = TrainConfig(dataset=dataset, epochs=1, max_steps=3, batch_size=64, device="cpu", amp=False)
    return model_cfg, train_cfg


def build_tiny_checkpoints(root: Path) -> Path:
    """Write the tiny checkpoints listed in the module docstring under `root`; returns `root`."""
    data = load_dataset("digits", "train")
    for name, (kind, dim) in MODELS.items():
        model_cfg, train_cfg = _cfgs(kind, dim)
        result = train(model_cfg, train_cfg, data)
        save_checkpoint(root / "digits" / name, result.model, model_cfg, train_cfg, "digits", result.state)
        if name == "classifier":
            save_checkpoint(root / "digits" / "clf-fashion", result.model, model_cfg, train_cfg, "fashion-mnist",
                            result.state)
        if name == "vae-2d":
            save_checkpoint(root / "mnist" / "vae-2d", result.model, model_cfg, train_cfg, "mnist", result.state)
    broken = root / "digits" / "broken"
    shutil.copytree(root / "digits" / "vae-2d", broken)
    (broken / "config.json").write_text("{ this is not json", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint root with the tiny checkpoints (built once per test session)."""
    return build_tiny_checkpoints(tmp_path_factory.mktemp("ui-checkpoints"))


@pytest.fixture
def app_env(tiny_checkpoints: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment that shows the app only the tiny checkpoints and no cached MNIST files."""
    env = {
        "EXPLORER_CHECKPOINTS": str(tiny_checkpoints),
        "EXPLORER_CHECKPOINTS_ONLY": "1",
        "EXPLORER_CACHE_DIR": str(tmp_path / "cache"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    return env
