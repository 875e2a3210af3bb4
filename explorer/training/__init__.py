"""The one training loop for every model kind, and device selection.

Names are imported on first use (PEP 562), so importing the package does not import torch."""
from __future__ import annotations

import importlib

_WHERE = {"train": "loop", "Progress": "loop", "TrainResult": "loop", "evaluate_losses": "loop",
          "select_device": "device", "describe_device": "device", "DeviceError": "device"}

__all__ = ["train", "Progress", "TrainResult", "evaluate_losses", "select_device",
           "describe_device", "DeviceError"]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
