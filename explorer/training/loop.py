"""One training loop for every model kind.

The whole dataset sits on the training device as one tensor; batches are index
slices of a per-epoch permutation, so there are no DataLoader workers and, on CUDA,
no host-device copies per step. Losses are summed on the device and read back only
when progress is reported, so logging costs no per-step synchronisation.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from explorer.core.config import ModelConfig, TrainConfig
from explorer.models import build_model
from explorer.training.device import amp_allowed, amp_dtype as mixed_precision_dtype, describe_device, select_device
from explorer.core.state import TrainState


@dataclass
class Progress:
    """What a progress callback is told: where the run is and how it is going."""
    epoch: int                 # 1-based epoch in progress (or just finished)
    epochs: int
    step: int                  # optimiser steps taken in total, across resumes
    steps_per_epoch: int
    losses: dict[str, float]   # running means of this epoch's training terms
    images_per_s: float
    eta_s: float               # estimated seconds left
    epoch_done: bool = False
    test_losses: dict[str, float] | None = None


@dataclass
class TrainResult:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    state: TrainState
    device: str


class StopTraining(Exception):
    pass


def _to_device_tensors(data, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(np.ascontiguousarray(data.images), dtype=torch.float32).to(device)
    y = torch.as_tensor(np.ascontiguousarray(data.labels), dtype=torch.long).to(device)
    return x, y


def _augment(x: torch.Tensor, hflip: bool, max_shift: int = 2) -> torch.Tensor:
    """Random translations of up to `max_shift` pixels (and horizontal flips), on the device."""
    b, _, h, w = x.shape
    if hflip:
        flip = torch.rand(b, device=x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (max_shift,) * 4)
    dx = torch.randint(0, 2 * max_shift + 1, (b,), device=x.device)
    dy = torch.randint(0, 2 * max_shift + 1, (b,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
    bidx = torch.arange(b, device=x.device)[:, None, None, None]
    return padded[bidx, torch.arange(x.shape[1], device=x.device)[None, :, None, None], rows, cols]


def _lr_at(cfg: TrainConfig, step: int, total_steps: int) -> float:
    if cfg.lr_schedule == "constant":
        return cfg.lr
    warmup = min(200, total_steps // 20)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total_steps - warmup)
    return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


@torch.no_grad()
def evaluate_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000,
                    amp_dtype: torch.dtype | None = None) -> dict[str, float]:
    """Mean loss terms over a whole split, in eval mode (the posterior mean is not used here:
    the VAE terms are single-sample estimates, the same as in training)."""
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    n = x.shape[0]
    for i in range(0, n, batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        with _autocast(x.device, amp_dtype):
            terms = model.loss(xb, yb).terms
        for k, v in terms.items():
            sums[k] = sums.get(k, 0) + v.float() * xb.shape[0]
    model.train(was_training)
    return {k: float(v) / n for k, v in sums.items()}


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=dtype)


def train(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    train_data,
    test_data=None,
    *,
    model: nn.Module | None = None,
    optimizer_state: dict | None = None,
    state: TrainState | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_epoch_end: Callable[[TrainResult], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    report_every_s: float = 0.5,
) -> TrainResult:
    """Train `model_cfg` on `train_data` (an ImageDataset) for `train_cfg.epochs` epochs in all.

    To resume, pass the loaded `model`, its `optimizer_state` and `state`: training goes on
    from `state.epoch` with the step count, schedule and history carried over.
    Cancelling (`should_stop` returns True) and divergence (a non-finite loss) both end the
    run with the weights of the last completed epoch; `state.status` says which happened.
    """
    device = select_device(train_cfg.device)
    torch.manual_seed(train_cfg.seed)
    np.random.seed(train_cfg.seed)
    model = model if model is not None else build_model(model_cfg)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    state = state if state is not None else TrainState()
    state.status, state.message = "running", ""

    amp_dtype = mixed_precision_dtype(device, train_cfg.amp and amp_allowed())  # $EXPLORER_AMP=0: float32
    if getattr(model, "channels_last", False):
        # NHWC lets oneDNN (CPU) and cuDNN pick their fast convolutions; weights are saved contiguous
        model.to(memory_format=torch.channels_last)
    x_train, y_train = _to_device_tensors(train_data, device)
    x_test = y_test = None
    if test_data is not None:
        x_test, y_test = _to_device_tensors(test_data, device)
    n = x_train.shape[0]
    bs = min(train_cfg.batch_size, n)
    steps_per_epoch = max(1, n // bs)  # drop the ragged last batch: BatchNorm dislikes tiny ones
    total_steps = steps_per_epoch * train_cfg.epochs
    if train_cfg.max_steps:
        total_steps = min(total_steps, train_cfg.max_steps)
    hflip = train_cfg.augment == "shift+flip"
    augment = train_cfg.augment in ("shift", "shift+flip")
    # A generator of our own, seeded per epoch, so a resumed run draws the same batches.
    gen = torch.Generator(device=device)

    last_good = copy.deepcopy(model.state_dict())
    last_good_opt = copy.deepcopy(optimizer.state_dict())
    result = TrainResult(model=model, optimizer=optimizer, state=state, device=describe_device(device))
    t_start = time.perf_counter()
    images_done = 0

    try:
        for epoch in range(state.epoch, train_cfg.epochs):
            if state.step >= total_steps:
                break
            gen.manual_seed(train_cfg.seed * 100003 + epoch)
            torch.manual_seed(train_cfg.seed * 7919 + epoch)
            perm = torch.randperm(n, device=device, generator=gen)
            sums: dict[str, torch.Tensor] = {}
            nonfinite = torch.zeros((), dtype=torch.bool, device=device)
            seen = 0
            t_epoch = time.perf_counter()
            t_report = t_epoch
            for i in range(steps_per_epoch):
                if state.step >= total_steps:
                    break
                if should_stop is not None and should_stop():
                    raise StopTraining("cancelled")
                idx = perm[i * bs:(i + 1) * bs]
                xb, yb = x_train[idx], y_train[idx]
                if augment:
                    xb = _augment(xb, hflip)
                for g in optimizer.param_groups:
                    g["lr"] = _lr_at(train_cfg, state.step, total_steps)
                kl_scale = 1.0
                if train_cfg.kl_warmup_epochs > 0:
                    kl_scale = min(1.0, (epoch + i / steps_per_epoch) / train_cfg.kl_warmup_epochs)
                with _autocast(device, amp_dtype):
                    out = model.loss(xb, yb, kl_scale=kl_scale)
                optimizer.zero_grad(set_to_none=True)
                out.total.backward()
                optimizer.step()
                nonfinite |= ~torch.isfinite(out.total.detach())
                for k, v in out.terms.items():
                    sums[k] = sums.get(k, 0) + v.float()
                state.step += 1
                seen += 1
                images_done += xb.shape[0]
                now = time.perf_counter()
                if device.type == "cpu" or now - t_report >= report_every_s or i == steps_per_epoch - 1:
                    if bool(nonfinite):  # the one sync point, at reporting time
                        raise StopTraining("diverged")
                if on_progress is not None and (now - t_report >= report_every_s or i == steps_per_epoch - 1):
                    t_report = now
                    rate = images_done / max(1e-9, now - t_start)
                    left_steps = total_steps - state.step
                    on_progress(Progress(
                        epoch=epoch + 1, epochs=train_cfg.epochs, step=state.step,
                        steps_per_epoch=steps_per_epoch,
                        losses={k: float(v) / seen for k, v in sums.items()},
                        images_per_s=rate, eta_s=left_steps * bs / max(rate, 1e-9),
                    ))
            if bool(nonfinite):
                raise StopTraining("diverged")
            record = {"epoch": epoch + 1, "step": state.step, "seconds": time.perf_counter() - t_epoch}
            record.update({f"train_{k}": float(v) / max(1, seen) for k, v in sums.items()})
            test_losses = None
            if x_test is not None:
                test_losses = evaluate_losses(model, x_test, y_test, amp_dtype=amp_dtype)
                if not all(math.isfinite(v) for v in test_losses.values()):
                    raise StopTraining("diverged")
                record.update({f"test_{k}": v for k, v in test_losses.items()})
            state.epoch = epoch + 1
            state.history.append(record)
            last_good = copy.deepcopy(model.state_dict())
            last_good_opt = copy.deepcopy(optimizer.state_dict())
            if on_progress is not None:
                rate = images_done / max(1e-9, time.perf_counter() - t_start)
                on_progress(Progress(
                    epoch=epoch + 1, epochs=train_cfg.epochs, step=state.step, steps_per_epoch=steps_per_epoch,
                    losses={k: v for k, v in record.items() if k.startswith("train_")},
                    images_per_s=rate, eta_s=(total_steps - state.step) * bs / max(rate, 1e-9),
                    epoch_done=True, test_losses=test_losses,
                ))
            if on_epoch_end is not None:
                on_epoch_end(result)
        state.status = "finished"
        precision = "bfloat16 mixed precision" if amp_dtype is not None else "float32"
        state.message = f"trained {state.epoch} epoch(s), {state.step} steps on {result.device}, {precision}"
    except StopTraining as stop:
        model.load_state_dict(last_good)
        optimizer.load_state_dict(last_good_opt)
        state.step = state.history[-1]["step"] if state.history else 0
        if str(stop) == "cancelled":
            state.status = "cancelled"
            state.message = f"cancelled; kept the weights of the last completed epoch ({state.epoch})"
        else:
            state.status = "diverged"
            state.message = (
                f"the loss became NaN or infinite in epoch {state.epoch + 1}; training stopped and the weights "
                f"of the last good epoch ({state.epoch}) were kept. Try a lower learning rate (now {train_cfg.lr})."
            )
    model.eval()
    return result
