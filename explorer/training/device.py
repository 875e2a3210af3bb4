"""Choosing the device to train on: CUDA, then Apple MPS, then the CPU, unless told otherwise."""
from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from explorer.core.errors import ExplorerError

AMP_ENV = "EXPLORER_AMP"  # "0" (or false/no/off): every run trains in float32, whatever its config says


class DeviceError(ExplorerError, ValueError):
    """A device that was asked for but is not there."""


def select_device(preference: str = "auto") -> torch.device:
    """The device for `preference` ("auto", "cpu", "cuda", "cuda:N" or "mps")."""
    pref = (preference or "auto").strip().lower()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if pref == "cpu":
        return torch.device("cpu")
    if pref.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {preference!r} was asked for, but no CUDA GPU is visible; use --device cpu or auto")
        dev = torch.device(pref)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {preference!r}: only {torch.cuda.device_count()} CUDA device(s) present")
        return dev
    if pref == "mps":
        if not _mps_available():
            raise DeviceError("device 'mps' was asked for, but Apple MPS is not available; use --device cpu or auto")
        return torch.device("mps")
    raise DeviceError(f"unknown device {preference!r}; use auto, cpu, cuda, cuda:N or mps")


def describe_device(device: torch.device) -> str:
    """A short human description, e.g. 'CUDA: NVIDIA H100 80GB HBM3' or 'CPU (2 threads)'."""
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple MPS"
    return f"CPU ({torch.get_num_threads()} threads)"


def amp_dtype(device: torch.device, amp: bool = True) -> torch.dtype | None:
    """The autocast dtype for mixed precision on `device`, or None for full float32.

    bfloat16 on CUDA, and on CPUs with native bfloat16 arithmetic (AVX512-BF16 or AMX),
    where oneDNN runs the convolutions faster than in float32 (docs/measurements.md). CPUs without
    it would only emulate bfloat16, which is slower, so they stay in float32. The losses
    are summed in float32 either way (see models/vae.py)."""
    if not amp:
        return None
    if device.type == "cuda":
        return torch.bfloat16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return None


def amp_allowed(environ: Mapping[str, str] = os.environ) -> bool:
    """False when $EXPLORER_AMP turns mixed precision off for every run on this machine.

    Read once where a run starts and passed on as `amp_dtype`'s `amp`, so that one switch gives
    float32 training everywhere (e.g. the same numbers on a CPU with bf16 as on one without)."""
    return environ.get(AMP_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU does bfloat16 arithmetic natively (AVX512-BF16 or AMX tiles)."""
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(bool(getattr(cpu, name)()) for name in checks if hasattr(cpu, name))
    except Exception:  # a private probe that changed: float32 is always safe
        return False


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def available_devices() -> list[tuple[str, str]]:
    """(choice, description) for every device this machine can train on, "auto" first."""
    auto = select_device("auto")
    out = [("auto", f"auto: {describe_device(auto)}"), ("cpu", f"cpu: {describe_device(torch.device('cpu'))}")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            out.append((f"cuda:{i}", f"cuda:{i}: {torch.cuda.get_device_name(i)}"))
    if _mps_available():
        out.append(("mps", "mps: Apple GPU"))
    return out
