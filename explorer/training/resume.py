"""Where a run starts from: fresh configs, or a checkpoint to go on from.

The CLI (`train --resume`) and the background runs (`jobs`) resume the same way: the
checkpoint's model and counters, its training settings with this run's epochs, device and
step cap.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explorer.core.config import ModelConfig, TrainConfig
from explorer.core.state import TrainState


@dataclass
class RunStart:
    """The configs a run trains with and, when it resumes, what it resumes."""
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    model: Any = None                    # the loaded nn.Module (None: build a new one)
    state: TrainState | None = None      # epochs and steps done, history
    optimizer_state: dict | None = None  # AdamW's moments, for an exact resume

    @property
    def first_epoch(self) -> int:
        """Epochs already done (0 for a fresh run)."""
        return self.state.epoch if self.state else 0


def resume_from(out: str | Path, *, epochs: int | None, device: str, max_steps: int,
                world_size: int = 1) -> RunStart:
    """The checkpoint at `out`, ready to go on training: `epochs` is the new total (None or 0:
    the checkpoint's), `device` where this run trains, `max_steps` this run's cap (0: none) and
    `world_size` its processes, not whatever a smoke run left in the checkpoint. Raises CheckpointError."""
    from explorer.checkpoints import load_checkpoint

    ckpt = load_checkpoint(out, with_optimizer=True)
    train_cfg = TrainConfig.from_dict({**ckpt.train_cfg.to_dict(), "epochs": epochs or ckpt.train_cfg.epochs,
                                       "max_steps": max_steps, "device": device, "world_size": world_size})
    return RunStart(model_cfg=ckpt.model_cfg, train_cfg=train_cfg, model=ckpt.model, state=ckpt.state,
                    optimizer_state=ckpt.extra.get("optimizer_state"))
