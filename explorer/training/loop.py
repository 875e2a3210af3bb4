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
from explorer.training.distributed import SOLO, Group
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
    """uint8 pixels and labels on the device; a batch becomes float32 in `_as_float`."""
    x = torch.as_tensor(np.ascontiguousarray(data.pixels)).to(device)
    y = torch.as_tensor(np.ascontiguousarray(data.labels), dtype=torch.long).to(device)
    return x, y


def _as_float(xb: torch.Tensor) -> torch.Tensor:
    """A batch of uint8 pixels (B, C, H, W) -> float32 in [0, 1] (float batches pass through),
    with NCHW's own strides. A one-channel array can carry a channel stride of 1 from numpy
    (`images[:, None][chosen]`, as digits' are), which torch reads as channels_last: the convs then
    take their NHWC path and give weight gradients strided (16, 1, 4, 1) for a (16, 16, 4, 1)
    parameter, which DDP warns of once per rank ("Grad strides do not match bucket view strides")."""
    return xb.to(torch.float32, memory_format=torch.contiguous_format).div_(255) if xb.dtype == torch.uint8 else xb


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
        xb, yb = _as_float(x[i:i + batch_size]), y[i:i + batch_size]
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


@dataclass
class _Plan:
    """The fixed shape of a run: batches, steps, augmentation and precision."""
    cfg: TrainConfig
    device: torch.device
    amp_dtype: torch.dtype | None
    batch_size: int
    steps_per_epoch: int
    total_steps: int
    augment: bool
    hflip: bool

    @classmethod
    def of(cls, cfg: TrainConfig, device: torch.device, amp_dtype: torch.dtype | None, n: int) -> "_Plan":
        bs = min(cfg.batch_size, n)
        steps_per_epoch = max(1, n // bs)  # drop the ragged last batch: BatchNorm dislikes tiny ones
        total_steps = steps_per_epoch * cfg.epochs
        if cfg.max_steps:
            total_steps = min(total_steps, cfg.max_steps)
        return cls(cfg=cfg, device=device, amp_dtype=amp_dtype, batch_size=bs, steps_per_epoch=steps_per_epoch,
                   total_steps=total_steps, augment=cfg.augment in ("shift", "shift+flip"),
                   hflip=cfg.augment == "shift+flip")

    def eta_s(self, step: int, rate: float) -> float:
        """Seconds left at `rate` images a second."""
        return (self.total_steps - step) * self.batch_size / max(rate, 1e-9)


@dataclass
class _Run:
    """One call of `train`: what it trains, on what, and what it tells the caller."""
    plan: _Plan
    result: TrainResult
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor | None
    y_test: torch.Tensor | None
    on_progress: Callable[[Progress], None] | None
    should_stop: Callable[[], bool] | None
    report_every_s: float
    group: Group
    loss: Callable  # model.loss, through DDP when the run has several processes
    # A generator of our own, seeded per epoch, so a resumed run draws the same batches.
    gen: torch.Generator
    last_good: tuple[dict, dict]   # weights and optimiser state of the last completed epoch
    t_start: float = field(default_factory=time.perf_counter)
    images_done: int = 0   # across epochs, for the speed

    @property
    def state(self) -> TrainState:
        return self.result.state

    def rate(self, now: float) -> float:
        """Images a second since the run started."""
        return self.images_done / max(1e-9, now - self.t_start)


@dataclass
class _EpochSums:
    """One epoch's summed training terms, kept on the device until they are reported."""
    sums: dict[str, torch.Tensor]
    nonfinite: torch.Tensor
    seen: int = 0
    t_epoch: float = field(default_factory=time.perf_counter)

    def means(self) -> dict[str, float]:
        return {k: float(v) / self.seen for k, v in self.sums.items()}


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
    group: Group = SOLO,
) -> TrainResult:
    """Train `model_cfg` on `train_data` (an ImageDataset) for `train_cfg.epochs` epochs in all.

    To resume, pass the loaded `model`, its `optimizer_state` and `state`: training goes on
    from `state.epoch` with the step count, schedule and history carried over.
    Cancelling (`should_stop` returns True) and divergence (a non-finite loss) both end the
    run with the weights of the last completed epoch; `state.status` says which happened.
    `group`: this process's place in a run of several (explorer/training/distributed.py).
    """
    group.check(train_cfg.batch_size, train_cfg.world_size)
    device = group.place(select_device(train_cfg.device))
    torch.manual_seed(train_cfg.seed)
    np.random.seed(train_cfg.seed)
    model, optimizer = _model_and_optimizer(model_cfg, train_cfg, device, model, optimizer_state)
    state = state if state is not None else TrainState()
    state.status, state.message = "running", ""
    run = _start_run(train_cfg, device, model, optimizer, state, train_data, test_data,
                     on_progress, should_stop, report_every_s, group)
    try:
        for epoch in range(state.epoch, train_cfg.epochs):
            if state.step >= run.plan.total_steps:
                break
            sums = _train_epoch(run, epoch)
            _end_epoch(run, epoch, sums)
            if on_epoch_end is not None:
                on_epoch_end(run.result)
        _finish(run)
    except StopTraining as stop:
        _roll_back(run, str(stop))
    model.eval()
    return run.result


def _model_and_optimizer(model_cfg: ModelConfig, train_cfg: TrainConfig, device: torch.device,
                         model: nn.Module | None, optimizer_state: dict | None):
    """The model on `device` in training mode and its AdamW, resumed when a state is given."""
    model = model if model is not None else build_model(model_cfg)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    return model, optimizer


def _start_run(train_cfg: TrainConfig, device: torch.device, model: nn.Module, optimizer: torch.optim.Optimizer,
               state: TrainState, train_data, test_data, on_progress, should_stop, report_every_s: float,
               group: Group) -> _Run:
    """Precision and memory format settled, both splits on the device, the run planned."""
    amp_dtype = mixed_precision_dtype(device, train_cfg.amp and amp_allowed())  # $EXPLORER_AMP=0: float32
    if getattr(model, "channels_last", False):
        # NHWC lets oneDNN (CPU) and cuDNN pick their fast convolutions; weights are saved contiguous
        model.to(memory_format=torch.channels_last)
    x_train, y_train = _to_device_tensors(train_data, device)
    x_test = y_test = None
    if test_data is not None:
        x_test, y_test = _to_device_tensors(test_data, device)
        x_test, y_test = group.my_rows(x_test), group.my_rows(y_test)  # each rank evaluates its part
    plan = _Plan.of(train_cfg, device, amp_dtype, x_train.shape[0])
    gen = torch.Generator(device=device)
    last_good = _copy_weights(model, optimizer)
    result = TrainResult(model=model, optimizer=optimizer, state=state, device=describe_device(device))
    return _Run(plan=plan, result=result, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                on_progress=on_progress, should_stop=should_stop, report_every_s=report_every_s, gen=gen,
                last_good=last_good, group=group, loss=group.loss_of(model))


def _copy_weights(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Copies of the weights and optimiser state, to go back to if the next epoch fails."""
    return copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())


def _train_epoch(run: _Run, epoch: int) -> _EpochSums:
    """One epoch of optimiser steps over a permutation seeded by (seed, epoch)."""
    plan, state = run.plan, run.state
    seed = plan.cfg.seed
    run.gen.manual_seed(seed * 100003 + epoch)
    torch.manual_seed(seed * 7919 + epoch + 1_000_003 * run.group.rank)  # each rank its own noise
    perm = torch.randperm(run.x_train.shape[0], device=plan.device, generator=run.gen)
    sums = _EpochSums(sums={}, nonfinite=torch.zeros((), dtype=torch.bool, device=plan.device))
    t_report = sums.t_epoch
    for i in range(plan.steps_per_epoch):
        if state.step >= plan.total_steps:
            break
        why = run.group.verdict(run.should_stop, sums.nonfinite, i, plan.device)
        if why:
            raise StopTraining(why)
        idx = run.group.my_part(perm[i * plan.batch_size:(i + 1) * plan.batch_size])
        _step(run, epoch, i, _as_float(run.x_train[idx]), run.y_train[idx], sums)
        t_report = _report_step(run, epoch, i == plan.steps_per_epoch - 1, sums, t_report)
    return sums


def _step(run: _Run, epoch: int, i: int, xb: torch.Tensor, yb: torch.Tensor, sums: _EpochSums) -> None:
    """One optimiser step on batch `i` of the epoch; its terms are added to `sums` on the device."""
    plan, state, optimizer = run.plan, run.state, run.result.optimizer
    if plan.augment:
        xb = _augment(xb, plan.hflip)
    for g in optimizer.param_groups:
        g["lr"] = _lr_at(plan.cfg, state.step, plan.total_steps)
    kl_scale = 1.0
    if plan.cfg.kl_warmup_epochs > 0:
        kl_scale = min(1.0, (epoch + i / plan.steps_per_epoch) / plan.cfg.kl_warmup_epochs)
    with _autocast(plan.device, plan.amp_dtype):
        out = run.loss(xb, yb, kl_scale=kl_scale)
    optimizer.zero_grad(set_to_none=True)
    out.total.backward()
    optimizer.step()
    sums.nonfinite |= ~torch.isfinite(out.total.detach())
    for k, v in out.terms.items():
        sums.sums[k] = sums.sums.get(k, 0) + v.float()
    state.step += 1
    sums.seen += 1
    run.images_done += xb.shape[0] * run.group.world_size


def _report_step(run: _Run, epoch: int, last_step: bool, sums: _EpochSums, t_report: float) -> float:
    """Check for divergence and tell `on_progress`, at most every `report_every_s` (and at an
    epoch's last step); returns when the last report was made."""
    now = time.perf_counter()
    due = now - t_report >= run.report_every_s or last_step
    if not run.group.active and (run.plan.device.type == "cpu" or due):  # several: Group.verdict
        if bool(sums.nonfinite):  # the one sync point, at reporting time
            raise StopTraining("diverged")
    if run.on_progress is not None and due:
        plan, state = run.plan, run.state
        rate = run.rate(now)
        run.on_progress(Progress(
            epoch=epoch + 1, epochs=plan.cfg.epochs, step=state.step, steps_per_epoch=plan.steps_per_epoch,
            losses=sums.means(), images_per_s=rate, eta_s=plan.eta_s(state.step, rate),
        ))
        return now
    return t_report


def _end_epoch(run: _Run, epoch: int, sums: _EpochSums) -> None:
    """Evaluate on the test split, append the epoch's record to the history, keep its weights
    as the last good ones and report it."""
    if run.group.any(sums.nonfinite):
        raise StopTraining("diverged")
    plan, state = run.plan, run.state
    record = {"epoch": epoch + 1, "step": state.step, "seconds": time.perf_counter() - sums.t_epoch}
    train_means = {k: float(v) / max(1, sums.seen) for k, v in sums.sums.items()}
    record.update({f"train_{k}": v for k, v in run.group.mean_over_ranks(train_means, sums.seen).items()})
    run.group.same_buffers(run.result.model)
    test_losses = None
    if run.x_test is not None:
        test_losses = evaluate_losses(run.result.model, run.x_test, run.y_test, amp_dtype=plan.amp_dtype)
        test_losses = run.group.mean_over_ranks(test_losses, run.x_test.shape[0])
        if not all(math.isfinite(v) for v in test_losses.values()):
            raise StopTraining("diverged")
        record.update({f"test_{k}": v for k, v in test_losses.items()})
    state.epoch = epoch + 1
    state.history.append(record)
    run.last_good = _copy_weights(run.result.model, run.result.optimizer)
    if run.on_progress is not None:
        rate = run.rate(time.perf_counter())
        run.on_progress(Progress(
            epoch=epoch + 1, epochs=plan.cfg.epochs, step=state.step, steps_per_epoch=plan.steps_per_epoch,
            losses={k: v for k, v in record.items() if k.startswith("train_")},
            images_per_s=rate, eta_s=plan.eta_s(state.step, rate),
            epoch_done=True, test_losses=test_losses,
        ))


def _finish(run: _Run) -> None:
    state = run.state
    state.status = "finished"
    precision = "bfloat16 mixed precision" if run.plan.amp_dtype is not None else "float32"
    state.message = f"trained {state.epoch} epoch(s), {state.step} steps on {run.result.device}, {precision}"


def _roll_back(run: _Run, why: str) -> None:
    """A cancelled or diverged run goes back to the weights of its last completed epoch."""
    state = run.state
    weights, optimizer_state = run.last_good
    run.result.model.load_state_dict(weights)
    run.result.optimizer.load_state_dict(optimizer_state)
    state.step = state.history[-1]["step"] if state.history else 0
    if why == "cancelled":
        state.status = "cancelled"
        state.message = f"cancelled; kept the weights of the last completed epoch ({state.epoch})"
    else:
        state.status = "diverged"
        state.message = (
            f"the loss became NaN or infinite in epoch {state.epoch + 1}; training stopped and the weights "
            f"of the last good epoch ({state.epoch}) were kept. Try a lower learning rate (now {run.plan.cfg.lr})."
        )
