"""The counters a checkpoint keeps about its training run (torch-free, so reading a
checkpoint's config does not import torch)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainState:
    """The counters that resume needs, saved in the checkpoint."""
    epoch: int = 0             # completed epochs
    step: int = 0              # optimiser steps taken
    status: str = "new"        # new | finished | cancelled | diverged
    message: str = ""
    history: list[dict] = field(default_factory=list)  # one dict of train/test figures per epoch
