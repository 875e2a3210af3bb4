"""The one training loop for every model kind, and device selection."""
from .device import DeviceError, describe_device, select_device
from .loop import Progress, TrainResult, TrainState, evaluate_losses, train

__all__ = ["train", "Progress", "TrainResult", "TrainState", "evaluate_losses", "select_device",
           "describe_device", "DeviceError"]
