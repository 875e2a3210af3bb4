"""Training on several processes with PyTorch's DistributedDataParallel, started by torchrun.

`torchrun --nproc_per_node N -m explorer train ...` starts N copies of the CLI with RANK,
WORLD_SIZE and LOCAL_RANK in their environment; `join` turns that into a process group (gloo
on the CPU, NCCL on CUDA with one GPU per local rank) and a `Group` the one training loop asks
what differs from a single process:

- every rank draws the same per-epoch permutation (same seed) and takes its own contiguous
  slice of each global batch, so `batch_size` is the global batch, split evenly over the ranks,
  and an epoch has as many steps as a single process's;
- gradients are averaged by DDP; each epoch's training and test terms are summed over the
  ranks (all_reduce) so the history is the whole run's, the same on every rank;
- stopping (Ctrl-C, cancel) and divergence are decided together, so no rank waits on a
  collective that the others have left;
- rank 0 alone writes checkpoints, the card and the figures; the others wait at a barrier.

Without torchrun `join` returns SOLO, a group of one for which all of this is the identity.
"""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from explorer.core.errors import ExplorerError

# On CUDA the stop/diverge check costs a host synchronisation, which the single-process loop
# avoids per step; every this many steps (and at each epoch's end) it is cheap and prompt enough.
CUDA_CHECK_EVERY = 25


class DistributedError(ExplorerError, ValueError):
    """A multi-process run that cannot be set up as asked; says what to change."""


@dataclass(frozen=True)
class Group:
    """This process's place among the run's processes; SOLO when there is one."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def writes(self) -> bool:
        """Whether this process writes the run's files (rank 0 only)."""
        return self.rank == 0

    def check(self, batch_size: int, world_size: int) -> None:
        """DistributedError unless a run of global batch `batch_size`, recorded as trained on
        `world_size` processes, can run on this group."""
        if world_size != self.world_size:
            raise DistributedError(f"the run's settings say {world_size} process(es) but {self.world_size} "
                                   "were started; set world_size to the number torchrun starts")
        if batch_size % self.world_size:
            raise DistributedError(f"the batch size {batch_size} is the global batch and must split evenly over "
                                   f"{self.world_size} processes; pass a multiple of {self.world_size}")

    def place(self, device: torch.device) -> torch.device:
        """The device this rank trains on: on CUDA, the GPU of its local rank."""
        if not self.active or device.type != "cuda":
            return device
        torch.cuda.set_device(self.local_rank)
        return torch.device("cuda", self.local_rank)

    def my_part(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global batch of indices (B,) -> (B / world_size,)."""
        if not self.active:
            return batch
        per_rank = batch.shape[0] // self.world_size
        return batch[self.rank * per_rank:(self.rank + 1) * per_rank]

    def my_rows(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's share of a split's rows (for evaluating the test set in parts)."""
        if not self.active:
            return x
        return torch.tensor_split(x, self.world_size)[self.rank]

    def loss_of(self, model: nn.Module) -> Callable[..., Any]:
        """model.loss, through DDP when there are several ranks, so its backward averages gradients."""
        if not self.active:
            return model.loss
        device_ids = [self.local_rank] if next(model.parameters()).is_cuda else None
        # gradients as views of the buckets: no copy. Each gradient must be laid out as its weight for
        # that (DDP warns once per rank otherwise); training/loop._as_float keeps one-channel batches NCHW
        return nn.parallel.DistributedDataParallel(_Loss(model), device_ids=device_ids, gradient_as_bucket_view=True)

    def any(self, flag: torch.Tensor | bool) -> bool:
        """True when `flag` is true on any rank (a collective: every rank must call it)."""
        if not self.active:
            return bool(flag)
        t = torch.as_tensor(flag, dtype=torch.float32, device=self._device()).reshape(1)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item())

    def verdict(self, asked: Callable[[], bool] | None, nonfinite: torch.Tensor, step: int,
                device: torch.device) -> str | None:
        """'cancelled' or 'diverged' when any rank was asked to stop or saw a non-finite loss,
        decided by all ranks together before a step; None to go on. A group of one checks only
        the stop request here (the loop checks its own losses when it reports)."""
        stop = asked is not None and asked()
        if not self.active:
            return "cancelled" if stop else None
        if device.type == "cuda" and step % CUDA_CHECK_EVERY:
            return None
        flags = torch.stack([nonfinite.float().reshape(()), torch.tensor(float(stop), device=nonfinite.device)])
        flags = flags.to(self._device())
        torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
        diverged, cancelled = (bool(v) for v in flags.tolist())
        return "diverged" if diverged else "cancelled" if cancelled else None

    def mean_over_ranks(self, means: dict[str, float], n: int) -> dict[str, float]:
        """Means of `n` items on this rank -> means over every rank's items (weighted by n)."""
        if not self.active:
            return means
        keys = sorted(means)
        t = torch.tensor([means[k] * n for k in keys] + [float(n)], dtype=torch.float64, device=self._device())
        torch.distributed.all_reduce(t)
        total = t[-1].item()
        return {k: v / total for k, v in zip(keys, t[:-1].tolist())}

    def same_buffers(self, model: nn.Module) -> None:
        """Rank 0's BatchNorm statistics on every rank (each rank's moved with its own batches),
        so evaluation and the saved weights agree."""
        if not self.active:
            return
        for buf in model.buffers():
            torch.distributed.broadcast(buf, src=0)

    def rank0_then_wait(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) on rank 0 (a save, a report), then every rank meets at a barrier."""
        out = fn(*args) if self.writes else None
        if self.active:
            torch.distributed.barrier()
        return out

    def _device(self) -> torch.device:
        if torch.distributed.get_backend() == "nccl":
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")


class _Loss(nn.Module):
    """model.loss as a forward, for DDP: it hooks the gradient averaging into forward's graph."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, kl_scale: float = 1.0):
        return self.model.loss(x, y, kl_scale=kl_scale)


SOLO = Group()


def from_env(environ: Mapping[str, str] = os.environ) -> Group:
    """The group torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK); SOLO without it."""
    try:
        world = int(environ.get("WORLD_SIZE", "1"))
        rank, local = int(environ.get("RANK", "0")), int(environ.get("LOCAL_RANK", "0"))
    except ValueError as e:
        raise DistributedError(f"RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers ({e}); "
                               "start several processes with torchrun --nproc_per_node N") from e
    if world < 1 or not 0 <= rank < world or not 0 <= local < world:
        raise DistributedError(f"rank {rank} (local {local}) of world size {world} is impossible; "
                               "start several processes with torchrun --nproc_per_node N")
    return Group(rank=rank, world_size=world, local_rank=local)


def join(device: torch.device, environ: Mapping[str, str] = os.environ) -> Group:
    """This process's group, its process group started when torchrun started several: gloo for
    `device` cpu, NCCL for cuda (one GPU per local rank)."""
    group = from_env(environ)
    if not group.active:
        return group
    if device.type not in ("cpu", "cuda"):
        raise DistributedError(f"training on several processes runs on CPUs (gloo) or CUDA GPUs (NCCL), "
                               f"not on {device.type}; pass --device cpu or cuda")
    if device.type == "cuda" and int(environ.get("LOCAL_WORLD_SIZE", "1")) > torch.cuda.device_count():
        raise DistributedError(f"{environ.get('LOCAL_WORLD_SIZE')} processes on this machine but "
                               f"{torch.cuda.device_count()} GPU(s): start at most one per GPU "
                               "(torchrun --nproc_per_node)")
    if device.type == "cuda":
        torch.cuda.set_device(group.local_rank)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return group


def lost_peer(error: BaseException) -> bool:
    """Whether `error` is a collective that failed because another rank is gone (killed, crashed):
    c10d raises DistBackendError, but a failure inside DDP's backward reaches Python as the
    backend's RuntimeError ("[.../gloo/transport/tcp/pair.cc] Read error ... Connection reset by
    peer"), torch 2.13."""
    if isinstance(error, torch.distributed.DistBackendError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("gloo" in text or "NCCL" in text)


def lost_peer_words(group: Group, error: BaseException) -> str:
    """A lost peer (`lost_peer`) in words: 'a process of this N-process run stopped (reason)',
    the reason being the backend's first sentence without its source location."""
    first = (str(error).splitlines() or [type(error).__name__])[0]
    reason = re.sub(r"^\[[^\]]*\]\s*", "", first).split(". ")[0].rstrip(".")
    return f"a process of this {group.world_size}-process run stopped ({reason or type(error).__name__})"


def leave(group: Group) -> None:
    """End the process group `join` started (nothing for a group of one)."""
    if group.active and torch.distributed.is_initialized():
        # every rank reaches the end before any tears gloo down: a rank destroying the group while
        # another still talks to it can abort ("terminate called without an active exception")
        try:
            torch.distributed.barrier()
        except RuntimeError:  # a peer is already gone: nothing left to wait for
            pass
        torch.distributed.destroy_process_group()


@contextlib.contextmanager
def joined(device: torch.device) -> Iterator[Group]:
    """The process group for this process (`join`), left (`leave`) however the block ends."""
    group = join(device)
    try:
        yield group
    finally:
        leave(group)


def launcher(processes: int) -> list[str]:
    """The interpreter arguments that run a module on `processes` ranks under torchrun (one
    machine, a free port); none for one process."""
    return ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] if processes > 1 else []
