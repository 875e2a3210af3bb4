"""The child process of a background run: `python -m explorer.training.jobs <run folder>`.

It trains as the folder's spec.json says, with the same `train()` as the CLI, and reports
through the folder's files (explorer.training.jobs describes them): status.json as it goes,
a snapshot of the latent space every epoch, a checkpoint after every completed epoch and,
when the run finishes, the test-set figures.
"""
from __future__ import annotations

import os
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from explorer.core.atomic import replacing
from explorer.core.kinds import is_conditional
from explorer.training.distributed import SOLO, from_env
from explorer.training.jobs import CANCEL_FILE, LOG_FILE, SPEC_FILE, JobSpec, read_status, snapshot_path, write_status

MAP_POINTS = 2000       # test images drawn on the live map
STRIP = 8               # test images whose reconstructions are shown every epoch


class _Reporter:
    """Writes status.json: at most every `every_s` seconds, and at once for what matters."""

    def __init__(self, run_dir: Path, base: dict, every_s: float = 0.5, writes: bool = True):
        self.run_dir = run_dir
        self.writes = writes  # False on the ranks after the first of a run on several processes
        self.status = dict(base)
        self.every_s = every_s
        self.last = 0.0

    def update(self, force: bool = False, **fields) -> None:
        self.status.update(fields)
        now = time.time()
        if self.writes and (force or now - self.last >= self.every_s):
            self.status["updated"] = now
            write_status(self.run_dir, self.status)
            self.last = now


def _map_coords(mu: np.ndarray) -> np.ndarray:
    """The latent plane itself for a 2-D latent, else the first two principal components
    (projection's PCA: signs fixed, so the map does not flip between epochs)."""
    from explorer.maps import projection
    return projection.project(mu, "identity" if mu.shape[1] == 2 else "pca").coords


def _strip_indices(labels: np.ndarray, n: int) -> np.ndarray:
    """n fixed test images, one per class first."""
    first = [int(np.flatnonzero(labels == k)[0]) for k in np.unique(labels)]
    rest = [i for i in range(len(labels)) if i not in set(first)]
    return np.array((first + rest)[:n])


@dataclass
class _Watch:
    """What the run shows of itself every epoch: the same test points on the map and the same
    strip of reconstructions, so epochs can be compared."""
    run_dir: Path
    test: Any              # the test ImageDataset
    map_idx: np.ndarray
    strip_idx: np.ndarray

    @classmethod
    def of(cls, run_dir: Path, test) -> "_Watch":
        rng = np.random.default_rng(0)
        map_idx = np.sort(rng.choice(len(test.images), min(MAP_POINTS, len(test.images)), replace=False))
        return cls(run_dir, test, map_idx, _strip_indices(test.labels, STRIP))

    def snapshot(self, model, epoch: int) -> None:
        """snapshots/epoch-NNNN.npz: map coords and labels, strip images and reconstructions."""
        from explorer.analysis import latent
        test, map_idx, strip_idx = self.test, self.map_idx, self.strip_idx
        arrays: dict[str, np.ndarray] = {"epoch": np.array(epoch)}
        if model.cfg.kind != "classifier":
            labels = test.labels
            mu, _ = latent.encode(model, test.images[map_idx], labels[map_idx])
            arrays["coords"] = _map_coords(mu)
            arrays["labels"] = labels[map_idx].astype(np.int64)
            arrays["images"] = test.images[strip_idx].astype(np.float32)
            arrays["recon"] = latent.reconstruct(model, test.images[strip_idx], labels[strip_idx]).astype(np.float32)
        path = snapshot_path(self.run_dir, epoch)
        with replacing(path, "wb", fsync=False) as f:
            np.savez(f, **arrays)


def run_child(run_dir: Path) -> int:
    """The child process: train as the spec says, reporting through files. Returns an exit status."""
    run_dir = Path(run_dir)
    spec = JobSpec.read(run_dir / SPEC_FILE)
    group = from_env()  # torchrun's rank; the process group itself is joined in _train_child
    base = read_status(run_dir)
    rep = _Reporter(run_dir, {**base, "state": "starting", "pid": os.getpid(), "owner": spec.owner,
                               "message": "loading the data..."}, writes=group.writes)
    rep.update(force=True)
    if spec.nice:
        try:
            os.nice(spec.nice)
        except OSError:
            pass
    stop = _stop_on_signals()
    try:
        return _train_child(run_dir, spec, rep, stop)
    except Exception as e:  # the child must always say how it ended
        traceback.print_exc()
        rep.update(force=True, state="failed", message=f"training failed: {type(e).__name__}: {e}")
        return 1


def _stop_on_signals() -> dict:
    """A SIGINT/SIGTERM (Ctrl-C in the app's terminal, a shutdown) means cancel: keep the last
    epoch. Returns the flag the signals set."""
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stop


def _train_child(run_dir: Path, spec: JobSpec, rep: _Reporter, stop: dict) -> int:
    """run_child's training, as one rank of its run (the only one, or one of torchrun's)."""
    from explorer.training.device import select_device
    from explorer.training.distributed import joined, lost_peer, lost_peer_words

    with joined(select_device(str(spec.train.get("device", "auto")))) as group:
        try:
            return _train_as(group, run_dir, spec, rep, stop)
        except RuntimeError as e:  # another rank died, and torchrun's SIGTERM only asked this one to stop
            if not (group.active and lost_peer(e)):
                raise
            traceback.print_exc()
            _report_lost_peer(rep, run_dir, Path(spec.out), lost_peer_words(group, e))
            return 1


def _report_lost_peer(rep: _Reporter, run_dir: Path, out: Path, words: str) -> None:
    """A run that lost a process, in one line: what the checkpoint on disk keeps (Resume goes on
    from it), never the collective's RuntimeError that reported the loss."""
    from explorer.checkpoints import CheckpointError, load_checkpoint
    try:
        epoch = load_checkpoint(out, with_model=False).state.epoch
    except CheckpointError:
        epoch = 0
    kept = (f"the checkpoint keeps epoch {epoch}, and Resume goes on from it" if epoch
            else "no epoch had completed, so there is no checkpoint")
    if epoch and rep.status.get("state") == "evaluating":  # lost while rank 0 measured the figures
        kept = (f"the checkpoint keeps all {epoch} epochs, without test-set figures, and Resume goes on from it "
                "to measure them")
    rep.update(force=True, state="stopped", epoch_done=epoch,
               message=f"{words}; see {run_dir / LOG_FILE} for which and why; {kept}")


def _train_as(group, run_dir: Path, spec: JobSpec, rep: _Reporter, stop: dict) -> int:
    import torch

    from explorer.checkpoints import save_checkpoint
    from explorer.training.device import describe_device, select_device
    from explorer.training.loop import train

    if spec.threads:
        torch.set_num_threads(spec.threads)
    start, train_data, test_data = _start(spec)
    model_cfg, train_cfg, out = start.model_cfg, start.train_cfg, Path(spec.out)
    device = describe_device(group.place(select_device(train_cfg.device)))
    if group.active:
        device = f"{device} and {group.world_size - 1} more, one process each"
    watch = _Watch.of(run_dir, test_data)
    _report_running(rep, start, out, device, len(train_data))
    model = start.model if start.model is not None else _new_model(start)
    model.eval()
    if group.writes:
        watch.snapshot(model, start.first_epoch)  # the untrained space, to start from
    extra = {"command": "trained in the app (Train page)", "notes": "", "device": device, "run": run_dir.name}

    def on_progress(p):
        rep.update(force=p.epoch_done, epoch=p.epoch, step=p.step, images_per_s=p.images_per_s, eta_s=p.eta_s,
                   losses=p.losses, phase="training")

    def save_and_snapshot(result):
        rep.update(force=True, phase="saving", history=list(result.state.history))
        save_checkpoint(out, result.model, model_cfg, train_cfg, train_cfg.dataset, result.state,
                        optimizer=result.optimizer, extra=extra)
        result.model.eval()
        watch.snapshot(result.model, result.state.epoch)
        result.model.train()
        rep.update(force=True, epoch_done=result.state.epoch, phase="training")

    def on_epoch_end(result):  # rank 0 alone writes; the others wait for it
        group.rank0_then_wait(save_and_snapshot, result)

    cancel_file = run_dir / CANCEL_FILE
    result = train(model_cfg, train_cfg, train_data, test_data, model=model, optimizer_state=start.optimizer_state,
                   state=start.state, on_progress=on_progress, on_epoch_end=on_epoch_end,
                   should_stop=lambda: stop["flag"] or cancel_file.exists(), group=group)
    return _report_outcome(rep, spec, model_cfg.kind, out, result.state,
                           should_stop=lambda: stop["flag"] or cancel_file.exists(), group=group)


def _start(spec: JobSpec):
    """The run's starting point (the spec's configs, or the checkpoint it resumes) and its data."""
    from explorer.core.config import ModelConfig, TrainConfig
    from explorer.data import load_dataset
    from explorer.training.resume import RunStart, resume_from

    model_cfg, train_cfg = ModelConfig.from_dict(spec.model), TrainConfig.from_dict(spec.train)
    train_data = load_dataset(train_cfg.dataset, "train")
    test_data = load_dataset(train_cfg.dataset, "test")
    if spec.resume:
        start = resume_from(spec.out, epochs=train_cfg.epochs, device=train_cfg.device, max_steps=0,
                            world_size=train_cfg.world_size)
    else:
        start = RunStart(model_cfg=model_cfg, train_cfg=train_cfg)
    return start, train_data, test_data


def _new_model(start):
    """A fresh model, initialised from the run's seed."""
    import torch

    from explorer.models import build_model
    torch.manual_seed(start.train_cfg.seed)
    return build_model(start.model_cfg)


def _report_running(rep: _Reporter, start, out: Path, device: str, n_train: int) -> None:
    """status.json once the data is in: what trains where, and how many steps it will take."""
    train_cfg, state = start.train_cfg, start.state
    steps_per_epoch = max(1, n_train // min(train_cfg.batch_size, n_train))
    history = list(state.history) if state else []
    rep.update(force=True, state="running", device=device, kind=start.model_cfg.kind, dataset=train_cfg.dataset,
               out=str(out), epoch=start.first_epoch, epochs=train_cfg.epochs, epoch_done=start.first_epoch,
               step=state.step if state else 0, steps_per_epoch=steps_per_epoch,
               total_steps=steps_per_epoch * train_cfg.epochs, history=history, images_per_s=None, eta_s=None,
               losses={}, phase="snapshot", message=f"training on {device}")


class MeasuringCancelled(Exception):
    """Cancel was pressed while the test-set figures were being measured."""


def _eval_progress(rep: _Reporter, should_stop=lambda: False):
    """The evaluation's progress hook: the fraction done and the time left, into status.json;
    it ends the measuring (MeasuringCancelled) as soon as the run is asked to stop."""
    t0 = time.monotonic()

    def progress(done: float) -> None:
        if should_stop():
            raise MeasuringCancelled
        spent = time.monotonic() - t0
        eta = spent * (1 - done) / done if done > 0.02 else None  # too early to tell before 2 %
        rep.update(phase_done=round(done, 4), eta_s=eta)

    return progress


def _report_outcome(rep: _Reporter, spec: JobSpec, kind: str, out: Path, st_,
                    should_stop=lambda: False, group=SOLO) -> int:
    """The run's last status: a finished run is evaluated first (unless cancelled meanwhile), by
    rank 0 while the other ranks wait. Returns the exit status."""
    if st_.status == "finished":
        rep.update(force=True, state="evaluating", message="training done; measuring the test-set figures...",
                   epoch_done=st_.epoch, history=list(st_.history), eta_s=None, phase="evaluating", phase_done=0.0)
        # every rank meets after the measuring: a rank lost meanwhile fails this barrier, and
        # _train_child says so, where torchrun's SIGTERM to the ranks left reads as a cancel here
        metrics = group.rank0_then_wait(_measure, rep, spec, kind, out, should_stop)
        if not group.writes:
            return 0
        if metrics is None:
            rep.update(force=True, state="cancelled", epoch_done=st_.epoch,
                       message=f"cancelled while measuring; the checkpoint keeps all {st_.epoch} epochs, without "
                               "test-set figures (python -m explorer evaluate measures them)")
            return 0
        headline = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        rep.update(force=True, state="finished", message=st_.message, metrics=headline)
        return 0
    if st_.status == "cancelled":
        kept = f"the checkpoint keeps epoch {st_.epoch}" if st_.epoch else "no epoch had completed, so no checkpoint"
        rep.update(force=True, state="cancelled", message=f"cancelled; {kept}", epoch_done=st_.epoch)
        return 0
    rep.update(force=True, state="diverged", message=st_.message, epoch_done=st_.epoch)
    return 1


def _measure(rep: _Reporter, spec: JobSpec, kind: str, out: Path, should_stop) -> dict | None:
    """The test-set figures of the checkpoint at `out`, written beside it; None when the run was
    asked to stop meanwhile (nothing written)."""
    from explorer.training.evaluate import run_evaluate
    try:
        return run_evaluate(out, classifier=spec.classifier if is_conditional(kind) else None,
                            iwae_k=spec.iwae_k, overwrite=True,  # new weights: old figures are stale
                            progress=_eval_progress(rep, should_stop))
    except MeasuringCancelled:
        return None
