"""`python -m explorer train`: train a model, writing its checkpoint after every epoch."""
from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from pathlib import Path

from explorer.cli.common import UserError
from explorer.training.evaluate import run_evaluate


def _lambda_for(kind: str, value: float | None) -> float:
    """--lambda for this kind: the hybrid's head weight (default 10), the cvae's class-consistency
    weight (default 0); the other kinds have none."""
    from explorer.core.kinds import KINDS

    default = KINDS[kind].default_lambda
    if default is not None:
        return default if value is None else value
    if value:
        raise UserError(f"--lambda applies to hybrid and cvae models, not to a {kind}")
    return 0.0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model, writing its checkpoint after every epoch, then print its test-set figures.
    Under torchrun, this process is one rank of a DistributedDataParallel run (training/distributed.py)."""
    from explorer.training.device import select_device
    from explorer.training.distributed import joined

    with joined(select_device(args.device)) as group:
        return _train_as(group, args)


def _train_as(group, args: argparse.Namespace) -> int:
    """cmd_train as one rank of `group`: every rank trains; rank 0 alone writes and reports."""
    import torch

    from explorer.cli.datasets import dataset_name, load_both
    from explorer.data.folders import dataset_dir_name
    from explorer.training.distributed import lost_peer, lost_peer_words

    train_data, test_data = load_both(dataset_name(args), args.data_dir, quiet=args.quiet)
    spec = train_data.spec
    out = _train_out(args, dataset_dir_name(spec.name))
    if args.threads:
        torch.set_num_threads(args.threads)
    start = _resumed(args, out, group) if args.resume else _fresh(args, out, spec, group)
    if start is None:
        return 0
    launcher = f"torchrun --nproc_per_node {group.world_size} -m explorer " if group.active else "python -m explorer "
    command = launcher + " ".join(shlex.quote(a) for a in getattr(args, "argv", sys.argv[1:]))
    extra = {"command": command, "notes": args.notes or ""}
    save = _saver(args, out, start, spec.name, extra)
    previous_term = signal.getsignal(signal.SIGTERM)
    try:
        result = _train_with_progress(args, start, train_data, test_data, save, extra, group)
        extra["device"] = result.device
        if result.state.epoch > 0:  # the last save: a collective too, so a lost peer is said here as well
            group.rank0_then_wait(save, result)
    except RuntimeError as e:  # another rank died: torchrun ends this one too
        if not (group.active and lost_peer(e)):
            raise
        raise UserError(f"{lost_peer_words(group, e)}; "
                        f"{_kept(out)} Run the same command with --resume to go on.") from e
    signal.signal(signal.SIGTERM, previous_term)  # kept on a failure, until its message is out
    return _after_training(args, out, result, group)


def _train_out(args: argparse.Namespace, dataset: str) -> Path:
    """The checkpoint folder this run writes: <root>/<dataset>/<name>, never through a symlink out."""
    from explorer.checkpoints import is_inside
    from explorer.checkpoints.catalog import default_root

    name = args.name or default_name(args)
    out_root = Path(args.out_dir or default_root())
    out = out_root / dataset / name
    if out.is_symlink() and not is_inside(out, out_root):
        raise UserError(f"{out} is a symlink that leads outside {out_root}; "
                        "training does not write through it (pick another --name)")
    return out


def _resumed(args: argparse.Namespace, out: Path, group):
    """The checkpoint at `out` to go on from, or None (said why) when it has all its epochs."""
    from explorer.training.resume import resume_from

    if not out.exists():
        raise UserError(f"--resume: there is no checkpoint at {out} to resume")
    # resume wherever we are now, under this run's --max-steps (0: none)
    start = resume_from(out, epochs=args.epochs, device=args.device, max_steps=args.max_steps,
                        world_size=group.world_size)
    state, train_cfg = start.state, start.train_cfg
    if state.epoch >= train_cfg.epochs:
        if group.writes:
            print(f"{out} has already trained {state.epoch} of {train_cfg.epochs} epochs; pass --epochs N to go further")
        return None
    if group.writes:
        print(f"resuming {out} from epoch {state.epoch}, step {state.step}")
    return start


def _fresh(args: argparse.Namespace, out: Path, spec, group):
    """A new run's configs from the flags; refuses to replace `out` without --overwrite."""
    from explorer.core.config import ConfigError, ModelConfig, TrainConfig
    from explorer.training.resume import RunStart

    if out.exists() and not args.overwrite:
        raise UserError(f"{out} already exists; pass --resume to continue it, --overwrite to replace it, "
                        "or --name to pick another name")
    try:
        model_cfg = ModelConfig(
            kind=args.kind, image_shape=spec.image_shape, num_classes=spec.num_classes,
            latent_dim=args.latent_dim, channels=tuple(args.channels), hidden=args.hidden, depth=args.depth,
            enc_depth=args.enc_depth,
            beta=args.beta, cls_weight=_lambda_for(args.kind, args.cls_weight), dropout=args.dropout,
        )
        train_cfg = TrainConfig(
            dataset=spec.name, epochs=args.epochs or 10, batch_size=args.batch_size, lr=args.lr,
            weight_decay=args.weight_decay, seed=args.seed, device=args.device, amp=not args.no_amp,
            lr_schedule=args.lr_schedule, kl_warmup_epochs=args.kl_warmup, augment=args.augment,
            max_steps=args.max_steps, world_size=group.world_size,
        )
    except ConfigError as e:
        raise UserError(str(e)) from e
    return RunStart(model_cfg=model_cfg, train_cfg=train_cfg)


def _saver(args: argparse.Namespace, out: Path, start, dataset: str, extra: dict):
    """save(result): the checkpoint at `out`; a failed save is one clear UserError."""
    from safetensors import SafetensorError

    from explorer.checkpoints import save_checkpoint

    def save(result) -> None:  # a failed save (a full disk) leaves the last good checkpoint as it was
        try:
            save_checkpoint(out, result.model, start.model_cfg, start.train_cfg, dataset, result.state,
                            optimizer=None if args.slim else result.optimizer, extra=extra)
        except (OSError, SafetensorError) as e:  # safetensors reports a full disk as its own error
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise UserError(f"could not save the checkpoint at epoch {result.state.epoch} to {out}: "
                            f"{reason}; {_kept(out)} Free some space and run again with --resume.") from e

    return save


def _train_with_progress(args: argparse.Namespace, start, train_data, test_data, save, extra: dict, group):
    """train() with a progress bar and a checkpoint every epoch; the first Ctrl-C stops it
    after the current step, keeping the last completed epoch."""
    from tqdm import tqdm

    from explorer.training.loop import train

    cancel = {"flag": False}

    def on_sigint(signum, frame):  # first Ctrl-C: stop after this step, keep the last epoch
        if cancel["flag"]:
            raise KeyboardInterrupt
        cancel["flag"] = True
        if group.writes:  # every rank is told (the terminal signals them all); they stop together
            tqdm.write("stopping after this step (Ctrl-C again to abort)...")

    previous = signal.signal(signal.SIGINT, on_sigint)
    if group.active:
        # torchrun sends SIGTERM to the other ranks when one fails. Stopping as for Ctrl-C lets this
        # rank live to meet the lost peer at its next collective and say so (see _train_as); by
        # default SIGTERM ended it silently whenever it was saving or evaluating at that moment.
        signal.signal(signal.SIGTERM, lambda signum, frame: cancel.update(flag=True))
    bar = tqdm(total=start.train_cfg.epochs, initial=start.first_epoch, unit="epoch",
               disable=args.quiet or not group.writes, dynamic_ncols=True)

    def on_progress(p):
        bar.set_postfix_str(f"step {p.step} " + " ".join(f"{k.removeprefix('train_')}={v:.3g}"
                                                         for k, v in p.losses.items()) + f" {p.images_per_s:.0f} img/s")
        if p.epoch_done:
            bar.update(1)
            if p.test_losses:
                tqdm.write(f"epoch {p.epoch}: " + " ".join(f"test_{k}={v:.4g}" for k, v in p.test_losses.items()))

    def on_epoch_end(result):  # a checkpoint every epoch: a killed run keeps its last epoch
        extra["device"] = result.device
        group.rank0_then_wait(save, result)

    try:
        result = train(start.model_cfg, start.train_cfg, train_data, test_data, model=start.model,
                       optimizer_state=start.optimizer_state, state=start.state,
                       on_progress=on_progress if group.writes else None,
                       on_epoch_end=on_epoch_end, should_stop=lambda: cancel["flag"], group=group)
    finally:
        bar.close()
        signal.signal(signal.SIGINT, previous)
    return result  # SIGTERM's handler stays until the last save (_train_as puts the old one back)


def _after_training(args: argparse.Namespace, out: Path, result, group) -> int:
    """After the last save: the run's outcome in words, and the test-set figures of a finished
    run (rank 0's part; the other ranks leave)."""
    if not group.writes:
        return 1 if result.state.status == "diverged" or result.state.epoch == 0 else 0
    print(result.state.message)
    if result.state.status == "diverged":
        print(f"error: {result.state.message}", file=sys.stderr)
        return 1
    if result.state.epoch == 0:
        print("no epoch completed, so no checkpoint was written")
        return 1
    print(f"checkpoint: {out}")
    if result.state.status == "finished" and not args.no_evaluate:
        # overwrite: the weights just changed, so figures measured before describe another model
        metrics = run_evaluate(out, classifier=args.classifier, iwae_k=args.iwae_k, data_dir=args.data_dir,
                               reference=args.reference, overwrite=True)
        print(json.dumps(headline(metrics)))
    return 0


def _kept(out: Path) -> str:
    """What a failed save left at `out`, in words."""
    from explorer.checkpoints import CheckpointError, load_checkpoint
    try:
        return f"the checkpoint there is unchanged (epoch {load_checkpoint(out, with_model=False).state.epoch})."
    except CheckpointError:
        return "no checkpoint was written."


def default_name(args: argparse.Namespace) -> str:
    from explorer.core.config import checkpoint_name
    return checkpoint_name(args.kind, args.latent_dim, args.beta, _lambda_for(args.kind, args.cls_weight))


def headline(metrics: dict) -> dict:
    """The figures worth a line of JSON: everything but the per-class lists."""
    return {k: v for k, v in metrics.items() if not isinstance(v, list)}
