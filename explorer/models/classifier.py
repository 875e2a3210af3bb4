"""The separate CNN that colours the map and judges every decoded image."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from explorer.core.config import ModelConfig
from explorer.models.vae import LossTerms


@dataclass
class ClassifierOutput:
    logits: torch.Tensor  # (B, K)


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class Classifier(nn.Module):
    """conv-BN-ReLU, pool, (conv-BN-ReLU) x 2, pool, then a dense head: (B, C, H, W) -> (B, K).

    One conv at full resolution and two at half keep it cheap enough to train on a CPU."""

    channels_last = True  # the training loop trains it in NHWC, where oneDNN's CPU convolutions are faster

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        c_in, h, w = cfg.image_shape
        c1, c2 = cfg.channels
        self.features = nn.Sequential(
            *_conv_bn_relu(c_in, c1), nn.MaxPool2d(2),                        # (B, c1, H/2, W/2)
            *_conv_bn_relu(c1, c2), *_conv_bn_relu(c2, c2), nn.MaxPool2d(2),  # (B, c2, H/4, W/4)
            *([nn.MaxPool2d(2)] if cfg.stages == 3 else []),                   # (B, c2, H/8, W/8)
        )
        scale = 2 ** cfg.stages
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(cfg.dropout),
            nn.Linear(c2 * (h // scale) * (w // scale), cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, cfg.num_classes),
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> ClassifierOutput:
        return ClassifierOutput(logits=self.head(self.features(x)))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, K)."""
        return self(x).logits

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, kl_scale: float = 1.0) -> LossTerms:
        if y is None:
            raise ValueError("the classifier needs labels to train")
        logits = self(x).logits.float()
        ce = F.cross_entropy(logits, y, label_smoothing=0.05)
        acc = (logits.argmax(1) == y).float().mean()
        return LossTerms(total=ce, terms={"ce": ce.detach(), "acc": acc.detach()})
