"""Shared fixtures: tiny synthetic image data, tiny model configs, an isolated environment.

Everything here is small enough to train in well under a second on one CPU core.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.core.config import ModelConfig, TrainConfig
from explorer.data import ImageDataset, get_spec

# Tiny tensors run fastest on one thread, and the machine may be busy training.
torch.set_num_threads(1)

TINY_SHAPE = (1, 8, 8)


def tiny_model_cfg(kind: str = "vae", image_shape=TINY_SHAPE, latent_dim: int = 2, **changes) -> ModelConfig:
    """A model small enough to build and train in milliseconds."""
    return ModelConfig(kind=kind, image_shape=image_shape, num_classes=10, latent_dim=latent_dim,
                       channels=(4, 8), hidden=16, **changes)


def tiny_model(kind: str = "vae", latent_dim: int = 3, num_classes: int = 3) -> torch.nn.Module:
    """A freshly built (untrained, seeded) tiny model over 8x8 images, in eval mode."""
    from explorer.models import build_model
    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, channels=(4, 8), hidden=16, latent_dim=latent_dim, image_shape=TINY_SHAPE,
                      num_classes=num_classes)
    return build_model(cfg).eval()


def tiny_train_cfg(**changes) -> TrainConfig:
    """CPU, constant lr, no mixed precision: deterministic on any machine."""
    settings = dict(dataset="digits", epochs=2, batch_size=16, lr=1e-2, seed=0, device="cpu",
                    amp=False, lr_schedule="constant")
    settings.update(changes)
    return TrainConfig(**settings)


def synthetic_dataset(n: int = 64, seed: int = 0, split: str = "train") -> ImageDataset:
    """`n` 8x8 images in [0, 1]: one fixed random prototype per class, dimmed and noised.

    The classes are easy to tell apart and the images easy to compress, so a few
    optimiser steps visibly lower both a VAE's and a classifier's loss."""
    spec = get_spec("digits")
    prototypes = np.random.default_rng(1234).random((spec.num_classes, *TINY_SHAPE)) < 0.35
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % spec.num_classes
    rng.shuffle(labels)
    images = prototypes[labels] * rng.uniform(0.7, 1.0, (n, 1, 1, 1)) + rng.normal(0, 0.05, (n, *TINY_SHAPE))
    images = np.clip(images, 0.0, 1.0).astype(np.float32)
    return ImageDataset(images=images, labels=labels, spec=spec, split=split)


@pytest.fixture
def tiny_data() -> ImageDataset:
    """64 training images, float32 (64, 1, 8, 8) in [0, 1], int64 labels, the digits spec."""
    return synthetic_dataset(64, seed=0, split="train")


@pytest.fixture
def tiny_test_data() -> ImageDataset:
    """32 held-out images drawn like `tiny_data`."""
    return synthetic_dataset(32, seed=1, split="test")


@pytest.fixture
def explorer_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Path]:
    """Point the cache and checkpoint roots into tmp_path, away from the user's files."""
    paths = {"cache": tmp_path / "cache", "checkpoints": tmp_path / "checkpoints"}
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(paths["cache"]))
    monkeypatch.setenv("EXPLORER_CHECKPOINTS", str(paths["checkpoints"]))
    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    return paths
