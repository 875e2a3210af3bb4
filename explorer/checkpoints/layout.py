"""What a checkpoint directory holds, and the error for one that is not a loadable checkpoint.

    <dir>/config.json          kind, model and training config, dataset, state, history, versions
    <dir>/model.safetensors    the weights
    <dir>/optimizer.safetensors  optimiser state for resuming (optional)
    <dir>/metrics.json         test-set figures written by `evaluate` (optional)
    <dir>/README.md            the model card
    <dir>/projections/         cached 2-D maps (optional)
"""
from __future__ import annotations

from explorer.core.errors import ExplorerError

FORMAT = "latent-explorer/1"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"
PROJECTIONS_DIR = "projections"  # the checkpoint's cached 2-D maps


class CheckpointError(ExplorerError):
    """A directory that is not a loadable checkpoint; the message names the file and the problem."""
