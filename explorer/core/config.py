"""Typed, validated configs for models and training, saved as JSON beside the weights."""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

from explorer.core.errors import ExplorerError
from explorer.core.kinds import MODEL_KINDS, VAE_KINDS


# Bounds that keep a hostile or mistyped config from allocating absurd tensors.
MAX_LATENT_DIM = 512
MAX_CHANNELS = 256
MAX_IMAGE_SIDE = 128
MAX_CLASSES = 1000


class ConfigError(ExplorerError, ValueError):
    """A config that names an unknown option or an impossible size."""


@dataclass
class ModelConfig:
    kind: str = "vae"                      # one of MODEL_KINDS
    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W); H and W divisible by 2 ** stages
    num_classes: int = 10                  # cvae conditioning, hybrid head, classifier output
    latent_dim: int = 16                   # size of z (unused by the classifier)
    channels: tuple[int, int] = (32, 64)   # conv widths of the first two stride-2 stages (a third keeps the second's)
    # stride-2 conv stages: 0 picks them from the side (3 from 64 px, so a 64x64 image's dense layer
    # sees 8x8 features, not 16x16; 2 below, as every checkpoint made before the field had)
    stages: int = 0
    hidden: int = 256                      # width of the dense layer between conv trunk and z
    depth: int = 1                         # residual 3x3 conv blocks per decoder stage
    enc_depth: int = 0                     # residual 3x3 conv blocks per encoder stage
    beta: float = 1.0                      # weight of the KL term (beta-VAE); 1 is the true ELBO
    # lambda, one JSON field for two kinds' weights (the checkpoint format keeps its name): read it as
    # `head_weight` (hybrid: the head's cross-entropy) or `consistency_weight` (cvae: its samples' class-consistency)
    cls_weight: float = 0.0
    dropout: float = 0.0                   # classifier only: dropout before the last layer

    def __post_init__(self) -> None:
        self.image_shape = tuple(int(s) for s in self.image_shape)  # type: ignore[assignment]
        self.channels = tuple(int(c) for c in self.channels)  # type: ignore[assignment]
        if self.stages == 0 and len(self.image_shape) == 3:
            self.stages = default_stages(self.image_shape)
        self.validate()

    def validate(self) -> None:
        _require_ints(self, "num_classes", "latent_dim", "hidden", "depth", "enc_depth", "stages")
        if self.kind not in MODEL_KINDS:
            raise ConfigError(f"unknown model kind {self.kind!r}; choose one of {', '.join(MODEL_KINDS)}")
        if len(self.image_shape) != 3:
            raise ConfigError(f"image_shape must be (C, H, W), got {self.image_shape}")
        c, h, w = self.image_shape
        if not (1 <= c <= 4) or not (4 <= h <= MAX_IMAGE_SIDE) or not (4 <= w <= MAX_IMAGE_SIDE):
            raise ConfigError(f"image_shape {self.image_shape} is out of range (1-4 channels, 4-{MAX_IMAGE_SIDE} px)")
        if self.stages not in (2, 3):
            raise ConfigError(f"stages must be 2 or 3 stride-2 conv stages, got {self.stages}")
        if h % 2 ** self.stages or w % 2 ** self.stages:
            raise ConfigError(f"image height and width must be divisible by {2 ** self.stages} for {self.stages} "
                              f"stride-2 stages, got {h}x{w}")
        if not (2 <= self.num_classes <= MAX_CLASSES):
            raise ConfigError(f"num_classes must be 2..{MAX_CLASSES}, got {self.num_classes}")
        if not (1 <= self.latent_dim <= MAX_LATENT_DIM):
            raise ConfigError(f"latent_dim must be 1..{MAX_LATENT_DIM}, got {self.latent_dim}")
        if len(self.channels) != 2 or not all(1 <= ch <= MAX_CHANNELS for ch in self.channels):
            raise ConfigError(f"channels must be two widths in 1..{MAX_CHANNELS}, got {self.channels}")
        if not (1 <= self.hidden <= 2048):
            raise ConfigError(f"hidden must be 1..2048, got {self.hidden}")
        if not (0 <= self.depth <= 8):
            raise ConfigError(f"depth must be 0..8, got {self.depth}")
        if not (0 <= self.enc_depth <= 8):
            raise ConfigError(f"enc_depth must be 0..8, got {self.enc_depth}")
        if not (0.0 <= self.beta <= 1000.0):
            raise ConfigError(f"beta must be in [0, 1000], got {self.beta}")
        if not (0.0 <= self.cls_weight <= 10000.0):
            raise ConfigError(f"cls_weight (lambda) must be in [0, 10000], got {self.cls_weight}")
        if not (0.0 <= self.dropout < 1.0):
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def is_vae(self) -> bool:
        return self.kind in VAE_KINDS

    @property
    def head_weight(self) -> float:
        """A hybrid's lambda: the weight of its classifier head's cross-entropy (0 for other kinds)."""
        return self.cls_weight if self.kind == "hybrid" else 0.0

    @property
    def consistency_weight(self) -> float:
        """A cvae's lambda: the weight of the loss that makes its class-conditional prior samples
        recognisable (0 for other kinds)."""
        return self.cls_weight if self.kind == "cvae" else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["image_shape"] = list(self.image_shape)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        return _from_dict(cls, d)


@dataclass
class TrainConfig:
    dataset: str = "fashion-mnist"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"                   # "auto" | "cpu" | "cuda" | "cuda:N" | "mps"
    amp: bool = True                       # bfloat16 mixed precision on CUDA and on CPUs with native bf16
    lr_schedule: str = "cosine"            # "cosine" | "constant"
    kl_warmup_epochs: float = 0.0          # ramp beta from 0 over this many epochs
    augment: str = "none"                  # "none" | "shift" | "shift+flip" (random translations, mirror)
    max_steps: int = 0                     # stop after this many optimiser steps (0: no limit)
    world_size: int = 1                    # processes it trains on (torchrun); batch_size is their global batch

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _require_ints(self, "epochs", "batch_size", "seed", "max_steps", "world_size")
        if not (1 <= self.epochs <= 10000):
            raise ConfigError(f"epochs must be 1..10000, got {self.epochs}")
        if not (1 <= self.batch_size <= 65536):
            raise ConfigError(f"batch_size must be 1..65536, got {self.batch_size}")
        if not (0.0 < self.lr <= 1.0):
            raise ConfigError(f"lr must be in (0, 1], got {self.lr}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ConfigError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if self.augment not in ("none", "shift", "shift+flip"):
            raise ConfigError(f"augment must be 'none', 'shift' or 'shift+flip', got {self.augment!r}")
        if self.kl_warmup_epochs < 0:
            raise ConfigError("kl_warmup_epochs must be >= 0")
        if self.max_steps < 0:
            raise ConfigError("max_steps must be >= 0")
        if not (1 <= self.world_size <= 1024):
            raise ConfigError(f"world_size must be 1..1024 processes, got {self.world_size}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        return _from_dict(cls, d)


def default_stages(image_shape) -> int:
    """Stride-2 conv stages for an image shape: 3 from 64 px a side (when it divides by 8), else 2."""
    _, h, w = (int(s) for s in image_shape)
    return 3 if min(h, w) >= 64 and h % 8 == 0 and w % 8 == 0 else 2


def checkpoint_name(kind: str, latent_dim: int, beta: float = 1.0, cls_weight: float = 0.0) -> str:
    """The default name of a checkpoint, e.g. vae-16d, vae-2d-beta4, hybrid-16d-lambda20, classifier."""
    if kind == "classifier":
        return "classifier"
    name = f"{kind}-{latent_dim}d"
    if beta != 1.0:
        name += f"-beta{beta:g}"
    if kind == "hybrid" or (kind == "cvae" and cls_weight):
        name += f"-lambda{cls_weight:g}"
    return name


def _from_dict(cls, d: dict[str, Any]):
    if not isinstance(d, dict):
        raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(d).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"{cls.__name__} has no field(s) {', '.join(unknown)}")
    try:
        return cls(**d)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:  # wrong value types, e.g. a string where a list belongs
        raise ConfigError(f"bad {cls.__name__}: {e}") from e


def _require_ints(cfg, *names: str) -> None:
    # a float size (latent_dim 2.5 in a hand-edited config.json) would pass the range checks
    # and fail later, deep inside torch, with no word about the config
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, numbers.Integral):
            raise ConfigError(f"{name} must be a whole number, got {value!r}")


def replace(cfg, **changes):
    """A copy of a config with some fields changed (validated again)."""
    return dataclasses.replace(cfg, **changes)


__all__ = ["ModelConfig", "TrainConfig", "ConfigError", "MODEL_KINDS", "VAE_KINDS", "replace"]
