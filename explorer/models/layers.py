"""Building blocks shared by every model: a conv encoder trunk and a conv decoder.

Shapes are derived from the config's image shape and `stages`: two stride-2 stages take an
(H, W) image to (H/4, W/4), so 28x28 becomes 7x7, 32x32 8x8 and 8x8 2x2; a third stage (the
default from 64 px a side) takes 64x64 to 8x8, so the dense layer stays small. The third stage's
layers come after the first two's (encoder) or before them (decoder), under new names, so the
weight names of two-stage checkpoints are unchanged.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from explorer.core.config import ModelConfig


def bottom_shape(cfg: ModelConfig) -> tuple[int, int, int]:
    """(C, H, W) of the feature map at the bottom of the conv trunk."""
    _, h, w = cfg.image_shape
    scale = 2 ** cfg.stages
    return cfg.channels[1], h // scale, w // scale


class ConvEncoder(nn.Module):
    """Image (B, C, H, W) -> features (B, hidden); optionally conditioned on a one-hot class."""

    def __init__(self, cfg: ModelConfig, cond_dim: int = 0):
        super().__init__()
        c_in = cfg.image_shape[0]
        c1, c2 = cfg.channels
        # enc_depth residual blocks after each stage; none (the default) keeps the layer
        # indices, and so the weight names, of checkpoints made before the option existed
        self.conv = nn.Sequential(
            nn.Conv2d(c_in + cond_dim, c1, 4, stride=2, padding=1),  # (B, c1, H/2, W/2)
            nn.BatchNorm2d(c1),
            nn.SiLU(),
            *[ResBlock(c1) for _ in range(cfg.enc_depth)],
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),  # (B, c2, H/4, W/4)
            nn.BatchNorm2d(c2),
            nn.SiLU(),
            *[ResBlock(c2) for _ in range(cfg.enc_depth)],
            *(_third_down(c2, cfg.enc_depth) if cfg.stages == 3 else ()),  # (B, c2, H/8, W/8)
        )
        c, h, w = bottom_shape(cfg)
        self.fc = nn.Sequential(nn.Linear(c * h * w + cond_dim, cfg.hidden), nn.SiLU())
        self.cond_dim = cond_dim

    def forward(self, x: torch.Tensor, y_onehot: torch.Tensor | None = None) -> torch.Tensor:
        if self.cond_dim:
            # the class as constant extra input planes, and again beside the flat features
            planes = y_onehot[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
            x = torch.cat([x, planes], dim=1)
        h = self.conv(x).flatten(1)  # (B, c2 * bottom H * bottom W)
        if self.cond_dim:
            h = torch.cat([h, y_onehot], dim=1)
        return self.fc(h)  # (B, hidden)


def _third_down(channels: int, depth: int) -> list[nn.Module]:
    """The encoder's third stride-2 stage, at the second stage's width."""
    return [nn.Conv2d(channels, channels, 4, stride=2, padding=1), nn.BatchNorm2d(channels), nn.SiLU(),
            *[ResBlock(channels) for _ in range(depth)]]


class FiLM(nn.Module):
    """Per-channel scale and shift of a feature map, predicted from a conditioning vector."""

    def __init__(self, cond_dim: int, channels: int):
        super().__init__()
        self.proj = nn.Linear(cond_dim, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.proj(cond)[:, :, None, None].chunk(2, dim=1)
        return h * (1 + gamma) + beta


class ResBlock(nn.Module):
    """x + conv(SiLU(BN(conv(x)))): extra decoder depth at a fixed resolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.silu(h + self.body(h))


class ConvDecoder(nn.Module):
    """Code (B, in_dim) -> Bernoulli logits (B, C, H, W); optionally FiLM-conditioned on a class."""

    def __init__(self, cfg: ModelConfig, in_dim: int, cond_dim: int = 0):
        super().__init__()
        c_out = cfg.image_shape[0]
        c1, c2 = cfg.channels
        self.bottom = bottom_shape(cfg)
        c, h, w = self.bottom
        self.fc = nn.Sequential(
            nn.Linear(in_dim + cond_dim, cfg.hidden),
            nn.SiLU(),
            nn.Linear(cfg.hidden, c * h * w),
            nn.SiLU(),
        )
        if cfg.stages == 3:  # (B, c2, H/8, W/8) -> (B, c2, H/4, W/4)
            self.up0 = nn.Sequential(nn.ConvTranspose2d(c2, c2, 4, stride=2, padding=1), nn.BatchNorm2d(c2), nn.SiLU(),
                                     *[ResBlock(c2) for _ in range(cfg.depth)])
        self.res0 = nn.Sequential(*[ResBlock(c2) for _ in range(cfg.depth)])  # (B, c2, H/4, W/4)
        self.up1 = nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1)  # (B, c1, H/2, W/2)
        self.bn1 = nn.BatchNorm2d(c1)
        self.res1 = nn.Sequential(*[ResBlock(c1) for _ in range(cfg.depth)])
        self.up2 = nn.ConvTranspose2d(c1, c_out, 4, stride=2, padding=1)  # (B, C, H, W) logits
        self.cond_dim = cond_dim
        if cond_dim:
            self.film0 = FiLM(cond_dim, c2)
            self.film1 = FiLM(cond_dim, c1)

    def forward(self, z: torch.Tensor, y_onehot: torch.Tensor | None = None) -> torch.Tensor:
        if self.cond_dim:
            z = torch.cat([z, y_onehot], dim=1)
        h = self.fc(z).view(-1, *self.bottom)  # (B, c2, bottom H, bottom W)
        if self.cond_dim:
            h = self.film0(h, y_onehot)
        if hasattr(self, "up0"):
            h = self.up0(h)  # (B, c2, H/4, W/4)
        h = self.res0(h)
        h = F.silu(self.bn1(self.up1(h)))  # (B, c1, H/2, W/2)
        if self.cond_dim:
            h = self.film1(h, y_onehot)
        h = self.res1(h)
        return self.up2(h)
