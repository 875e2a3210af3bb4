"""An external model (ONNX folder or PyTorch factory) as a checkpoint, its model adapted to the
verbs of ours (`encode`, `decode`, `reparameterize`, `classify`, `cfg`), so explorer/analysis,
the pages and the CLI run it through the same code as our own models.

A backend does the running, on numpy float32 arrays in the model's own value range:

    encode(images, labels) -> (mu, logvar)      decode(codes, labels) -> images or logits
    classify(images or codes) -> class logits   (labels: int64 (N,), or None)

The adapter turns our [0, 1] images into the model's range, checks every output's shape,
finiteness and range (external.check_output), and hands back torch tensors as our models do.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from explorer.checkpoints.external import (
    ExternalModelError, ExternalSpec, check_output, probabilities_to_logits, read_spec,
)
from explorer.core import kinds
from explorer.core.config import TrainConfig
from explorer.core.state import TrainState


class Backend(Protocol):
    def where(self, role: str) -> str: ...  # what a message names: the role's ONNX file, or the factory

    def encode(self, images: np.ndarray, labels: np.ndarray | None) -> tuple[Any, Any]: ...
    def decode(self, codes: np.ndarray, labels: np.ndarray | None) -> Any: ...
    def classify(self, inputs: np.ndarray) -> Any: ...


class ExternalModel(nn.Module):
    """A model from outside with the verbs of ours; runs on the CPU side of torch (its backend
    picks its own device)."""

    def __init__(self, spec: ExternalSpec, backend: Backend, head_on_codes: bool = False):
        super().__init__()
        self.spec, self.backend, self.cfg = spec, backend, spec.model_cfg()
        self.head_on_codes = head_on_codes  # a hybrid's head judges the posterior mean, not the image
        # analysis.latent finds a model's device from its first parameter: an empty one says "cpu"
        self.anchor = nn.Parameter(torch.zeros(0), requires_grad=False)

    @property
    def conditional(self) -> bool:
        return kinds.is_conditional(self.spec.kind)

    def _images(self, x: torch.Tensor) -> np.ndarray:
        low, high = self.spec.value_range
        return (x.detach().float().cpu().numpy() * (high - low) + low).astype(np.float32)

    def _labels(self, y: torch.Tensor | None, n: int) -> np.ndarray | None:
        if not self.conditional:
            return None
        if y is None:
            raise ValueError("a conditional VAE needs class labels y")
        return y.detach().cpu().numpy().astype(np.int64).reshape(n)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): mean and log-variance, each (B, D)."""
        n, d = len(x), self.cfg.latent_dim
        mu, logvar = self.backend.encode(self._images(x), self._labels(y, n))
        mu = check_output(self.backend.where("encoder"), "means", mu, (n, d))
        logvar = check_output(self.backend.where("encoder"), "log-variances", logvar, (n, d))
        return torch.from_numpy(mu), torch.from_numpy(logvar)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I)."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """p(x|z) as Bernoulli logits (B, C, H, W), whichever form the model gives."""
        n = len(z)
        out = self.backend.decode(z.detach().float().cpu().numpy(), self._labels(y, n))
        where = self.backend.where("decoder")
        out = check_output(where, "images", out, (n, *self.cfg.image_shape))
        if self.spec.decoder_output == "probabilities":
            out = probabilities_to_logits(where, out, self.spec.value_range)
        return torch.from_numpy(out)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, K): the classifier's on the image, or a hybrid's head on the mean code."""
        if self.cfg.kind not in kinds.CLASSIFYING_KINDS:
            raise ValueError(f"a {self.cfg.kind} model has no classifier; use a classifier or hybrid checkpoint")
        inputs = self.encode(x)[0].numpy() if self.head_on_codes else self._images(x)
        logits = self.backend.classify(inputs)
        logits = check_output(self.backend.where("classifier"), "class logits", logits, (len(x), self.cfg.num_classes))
        return torch.from_numpy(logits)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        mu, _ = self.encode(x, y)
        return self.decode(mu, y)


def load_external(path: Path, with_model: bool = True, factories: tuple[str, ...] | None = None):
    """The checkpoint an external model folder describes (the model made only if asked for).
    `factories`: the factories the user named (None: those in EXPLORER_FACTORY)."""
    from explorer.checkpoints.format import Checkpoint, read_metrics

    spec = read_spec(path)
    model = _model(spec, factories) if with_model else None
    return Checkpoint(path=path, model_cfg=spec.model_cfg(), train_cfg=_train_cfg(spec), dataset=spec.dataset,
                      state=TrainState(status="external", message=spec.origin), model=model,
                      metrics=read_metrics(path), extra={"class_names": list(spec.class_names)}, origin=spec.origin)


def _train_cfg(spec: ExternalSpec) -> TrainConfig:
    return TrainConfig(dataset=spec.dataset, epochs=1)


def _model(spec: ExternalSpec, factories: tuple[str, ...] | None) -> ExternalModel:
    if spec.source == "onnx":
        from explorer.checkpoints.onnx_folder import open_folder
        backend = open_folder(spec)
        head_on_codes = "classifier" in spec.graphs and "codes" in spec.graphs["classifier"].inputs
        return ExternalModel(spec, backend, head_on_codes=head_on_codes)
    from explorer.checkpoints.factory import backend_for
    return ExternalModel(spec, backend_for(spec, factories))


__all__ = ["ExternalModel", "ExternalModelError", "load_external"]
