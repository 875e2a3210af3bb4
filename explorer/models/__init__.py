"""Model classes and their registry: one dict from kind to class, built from a ModelConfig."""
from __future__ import annotations

from torch import nn

from explorer.core.config import ModelConfig
from explorer.models.classifier import Classifier, ClassifierOutput
from explorer.models.vae import CVAE, VAE, HybridVAE, LossTerms, VAEOutput, bernoulli_nll, gaussian_kl

MODELS: dict[str, type[nn.Module]] = {
    "vae": VAE,
    "cvae": CVAE,
    "hybrid": HybridVAE,
    "classifier": Classifier,
}


def build_model(cfg: ModelConfig) -> nn.Module:
    """The model a config describes, freshly initialised."""
    cfg.validate()
    return MODELS[cfg.kind](cfg)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "MODELS", "build_model", "count_parameters", "VAE", "CVAE", "HybridVAE", "Classifier",
    "VAEOutput", "ClassifierOutput", "LossTerms", "bernoulli_nll", "gaussian_kl",
]
