"""`python -m explorer <command>`: train, evaluate, sample, predict, fetch-data, project.

`python -m explorer bench` is developer tooling (explorer/tooling/bench.py), routed by __main__.py.

The CLI and the app call the same functions; this file only parses arguments,
reports progress and turns errors into one clear line and a non-zero exit status.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import signal
import sys
from pathlib import Path

import numpy as np

from explorer.core.atomic import replacing
from explorer.core.kinds import MODEL_KINDS, is_conditional

EXIT_USAGE = 2


class UserError(Exception):
    """A mistake in what was asked for; printed as one line, exit status 2."""


# ---------------------------------------------------------------- train

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
    """Train a model, writing its checkpoint after every epoch, then print its test-set figures."""
    import torch

    from explorer.data import load_dataset

    train_data = load_dataset(args.dataset, "train", data_dir=args.data_dir)
    test_data = load_dataset(args.dataset, "test", data_dir=args.data_dir)
    spec = train_data.spec
    out = _train_out(args, spec.name)
    if args.threads:
        torch.set_num_threads(args.threads)
    start = _resumed(args, out) if args.resume else _fresh(args, out, spec)
    if start is None:
        return 0
    command = "python -m explorer " + " ".join(shlex.quote(a) for a in getattr(args, "argv", sys.argv[1:]))
    extra = {"command": command, "notes": args.notes or ""}
    save = _saver(args, out, start, spec.name, extra)
    result = _train_with_progress(args, start, train_data, test_data, save, extra)
    return _after_training(args, out, result, save, extra)


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


def _resumed(args: argparse.Namespace, out: Path):
    """The checkpoint at `out` to go on from, or None (said why) when it has all its epochs."""
    from explorer.training.resume import resume_from

    if not out.exists():
        raise UserError(f"--resume: there is no checkpoint at {out} to resume")
    # resume wherever we are now, under this run's --max-steps (0: none)
    start = resume_from(out, epochs=args.epochs, device=args.device, max_steps=args.max_steps)
    state, train_cfg = start.state, start.train_cfg
    if state.epoch >= train_cfg.epochs:
        print(f"{out} has already trained {state.epoch} of {train_cfg.epochs} epochs; pass --epochs N to go further")
        return None
    print(f"resuming {out} from epoch {state.epoch}, step {state.step}")
    return start


def _fresh(args: argparse.Namespace, out: Path, spec):
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
            max_steps=args.max_steps,
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


def _train_with_progress(args: argparse.Namespace, start, train_data, test_data, save, extra: dict):
    """train() with a progress bar and a checkpoint every epoch; the first Ctrl-C stops it
    after the current step, keeping the last completed epoch."""
    from tqdm import tqdm

    from explorer.training.loop import train

    cancel = {"flag": False}

    def on_sigint(signum, frame):  # first Ctrl-C: stop after this step, keep the last epoch
        if cancel["flag"]:
            raise KeyboardInterrupt
        cancel["flag"] = True
        tqdm.write("stopping after this step (Ctrl-C again to abort)...")

    previous = signal.signal(signal.SIGINT, on_sigint)
    bar = tqdm(total=start.train_cfg.epochs, initial=start.first_epoch, unit="epoch", disable=args.quiet,
               dynamic_ncols=True)

    def on_progress(p):
        bar.set_postfix_str(f"step {p.step} " + " ".join(f"{k.removeprefix('train_')}={v:.3g}"
                                                         for k, v in p.losses.items()) + f" {p.images_per_s:.0f} img/s")
        if p.epoch_done:
            bar.update(1)
            if p.test_losses:
                tqdm.write(f"epoch {p.epoch}: " + " ".join(f"test_{k}={v:.4g}" for k, v in p.test_losses.items()))

    def on_epoch_end(result):  # a checkpoint every epoch: a killed run keeps its last epoch
        extra["device"] = result.device
        save(result)

    try:
        return train(start.model_cfg, start.train_cfg, train_data, test_data, model=start.model,
                     optimizer_state=start.optimizer_state, state=start.state, on_progress=on_progress,
                     on_epoch_end=on_epoch_end, should_stop=lambda: cancel["flag"])
    finally:
        bar.close()
        signal.signal(signal.SIGINT, previous)


def _after_training(args: argparse.Namespace, out: Path, result, save, extra: dict) -> int:
    """The last save, the run's outcome in words, and the test-set figures of a finished run."""
    extra["device"] = result.device
    if result.state.epoch > 0:
        save(result)
    print(result.state.message)
    if result.state.status == "diverged":
        print(f"error: {result.state.message}", file=sys.stderr)
        return 1
    if result.state.epoch == 0:
        print("no epoch completed, so no checkpoint was written")
        return 1
    print(f"checkpoint: {out}")
    if result.state.status == "finished" and not args.no_evaluate:
        metrics = run_evaluate(out, classifier=args.classifier, iwae_k=args.iwae_k, data_dir=args.data_dir,
                               reference=args.reference)
        print(json.dumps(_headline(metrics)))
    return 0


def _kept(out: Path) -> str:
    """What a failed save left at `out`, in words."""
    from explorer.checkpoints import CheckpointError, load_checkpoint
    try:
        return f"the checkpoint there is unchanged (epoch {load_checkpoint(out, with_model=False).state.epoch})."
    except CheckpointError:
        return "no checkpoint was written."


def _check_paths(args: argparse.Namespace) -> None:
    """Checkpoint arguments: ids (digits/vae-8d) resolved in the checkpoints folder, escapes from
    it refused; a checkpoint name is one plain file name (no '/', '..' or leading dot)."""
    from explorer.checkpoints import locate
    from explorer.checkpoints.catalog import default_root

    root = default_root()
    for attr in ("checkpoint", "classifier"):
        if getattr(args, attr, None):
            setattr(args, attr, str(locate(getattr(args, attr), root)))
    name = getattr(args, "name", None)
    if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,99}", name):
        raise UserError(f"--name {name!r} must be a plain name (letters, digits, '.', '_', '+', '=', '-'; "
                        "no '/' or '..'), like vae-16d")


def default_name(args: argparse.Namespace) -> str:
    from explorer.core.config import checkpoint_name
    return checkpoint_name(args.kind, args.latent_dim, args.beta, _lambda_for(args.kind, args.cls_weight))


# ---------------------------------------------------------------- evaluate

from explorer.training.evaluate import run_evaluate  # noqa: E402  (the CLI's evaluate; also the Train page's)

def _headline(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not isinstance(v, list)}


def cmd_evaluate(args: argparse.Namespace) -> int:
    metrics = run_evaluate(args.checkpoint, classifier=args.classifier, iwae_k=args.iwae_k, data_dir=args.data_dir,
                           reference=args.reference)
    from explorer.core.atomic import json_safe
    print(json.dumps(json_safe(metrics)))
    return 0


# ---------------------------------------------------------------- sample / predict

def cmd_sample(args: argparse.Namespace) -> int:
    from explorer.checkpoints import load_checkpoint
    from explorer.analysis.metrics import sample_images

    ckpt = load_checkpoint(args.checkpoint)
    if ckpt.kind == "classifier":
        raise UserError(f"{args.checkpoint} is a classifier; sample needs a vae, cvae or hybrid checkpoint")
    if not (1 <= args.n <= 100_000):
        raise UserError(f"--n must be between 1 and 100000, got {args.n}")
    k = ckpt.model_cfg.num_classes
    if is_conditional(ckpt):
        if args.label is None:
            raise UserError(f"{args.checkpoint} is a conditional VAE: pass --label K with K in 0..{k - 1}")
        if not (0 <= args.label < k):
            raise UserError(f"--label must be in 0..{k - 1}, got {args.label}")
    elif args.label is not None:
        raise UserError(f"--label only applies to a cvae; {args.checkpoint} is a {ckpt.kind}, which has no labels "
                        "to condition on (leave --label out to sample from the prior)")
    images = sample_images(ckpt.model, args.n, label=args.label, seed=args.seed).astype(np.float32)
    _save_npy(args.out, images)
    print(f"wrote {images.shape[0]} images of shape {tuple(images.shape[1:])} to {args.out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from explorer.checkpoints import load_checkpoint
    from explorer.analysis.metrics import predict_proba

    ckpt = load_checkpoint(args.checkpoint)
    if ckpt.kind not in ("classifier", "hybrid"):
        raise UserError(f"{args.checkpoint} is a {ckpt.kind}; predict needs a classifier or hybrid checkpoint")
    try:
        images = np.load(args.images, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"--images {args.images}: no such file")
    except (ValueError, OSError) as e:
        raise UserError(f"--images {args.images} is not a readable .npy array ({e})")
    if not isinstance(images, np.ndarray):  # np.load opens an .npz archive whatever the file is called
        raise UserError(f"--images {args.images} is not a readable .npy array (it is an .npz archive)")
    shape = tuple(ckpt.model_cfg.image_shape)
    if images.ndim != 4 or tuple(images.shape[1:]) != shape:
        raise UserError(f"--images {args.images} has shape {images.shape}; this model needs (N, {', '.join(map(str, shape))})")
    if not np.issubdtype(images.dtype, np.floating):
        raise UserError(f"--images {args.images} has dtype {images.dtype}; expected float32 intensities in [0, 1]")
    if images.size and (not np.isfinite(images).all() or images.min() < 0 or images.max() > 1):
        raise UserError(f"--images {args.images} has values outside [0, 1] (or NaN); scale intensities to [0, 1]")
    pred = predict_proba(ckpt.model, images.astype(np.float32)).argmax(1).astype(np.int64)
    _save_npy(args.out, pred)
    print(f"wrote {len(pred)} predictions to {args.out}")
    return 0


def _save_npy(path: str, array: np.ndarray) -> None:
    """np.save via a temporary file, so a failed write leaves no half file."""
    path = Path(path)
    if path.suffix != ".npy":
        raise UserError(f"--out {path} must end in .npy")
    with replacing(path) as f:
        np.save(f, array)


def cmd_fetch_data(args: argparse.Namespace) -> int:
    from explorer.data.cli import fetch_data_command
    return fetch_data_command(args)


# ---------------------------------------------------------------- parser

def _channels(text: str) -> list[int]:
    try:
        vals = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"channels must be two integers like 32,64, got {text!r}")
    if len(vals) != 2:
        raise argparse.ArgumentTypeError(f"channels must be two integers like 32,64, got {text!r}")
    return vals


def build_parser() -> argparse.ArgumentParser:
    """The `python -m explorer` parser: one subcommand per verb, each bound to its cmd_ function."""
    p = argparse.ArgumentParser(prog="python -m explorer", description="Latent Explorer: train, evaluate and use VAEs.",
                                epilog="python -m explorer bench: speed and memory figures (developer tooling; --help for its options)")
    sub = p.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_evaluate(sub)
    _add_sample_and_predict(sub)
    _add_fetch_data(sub)
    _add_project(sub)
    return p


def _add_train(sub) -> None:
    t = sub.add_parser("train", help="train a model and write a checkpoint")
    t.add_argument("--kind", choices=list(MODEL_KINDS), default="vae")
    t.add_argument("--dataset", default="fashion-mnist")
    t.add_argument("--data-dir", default=None)
    t.add_argument("--latent-dim", type=int, default=16)
    t.add_argument("--channels", type=_channels, default=[32, 64])
    t.add_argument("--hidden", type=int, default=256)
    t.add_argument("--depth", type=int, default=1, help="residual blocks per decoder stage")
    t.add_argument("--enc-depth", type=int, default=0, help="residual blocks per encoder stage")
    t.add_argument("--beta", type=float, default=1.0)
    t.add_argument("--lambda", dest="cls_weight", type=float, default=None,
                   help="hybrid: weight of the head's cross-entropy (default 10); cvae: weight of the loss that makes "
                        "class-conditional samples recognisable (default 0, off)")
    t.add_argument("--dropout", type=float, default=0.0)
    t.add_argument("--epochs", type=int, default=None, help="total epochs (default 10; with --resume, the new total)")
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--lr-schedule", choices=["cosine", "constant"], default="cosine")
    t.add_argument("--kl-warmup", type=float, default=0.0, help="epochs over which beta ramps up from 0")
    t.add_argument("--augment", choices=["none", "shift", "shift+flip"], default="none")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    t.add_argument("--no-amp", action="store_true", help="train in float32 throughout (no bfloat16 mixed precision on CUDA or bf16-capable CPUs)")
    t.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's choice)")
    t.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (smoke tests)")
    t.add_argument("--name", default=None, help="checkpoint name (default from kind, latent size, beta, lambda)")
    t.add_argument("--out-dir", default=None, help="checkpoint root (default: the first of $EXPLORER_CHECKPOINTS, else the repository's checkpoints/)")
    t.add_argument("--resume", action="store_true", help="continue the checkpoint of this name")
    t.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint of this name")
    t.add_argument("--slim", action="store_true", help="leave out the optimiser state (smaller; cannot resume)")
    t.add_argument("--no-evaluate", action="store_true", help="skip the test-set evaluation at the end")
    t.add_argument("--classifier", default=None, help="cvae: classifier checkpoint to judge conditional fidelity")
    t.add_argument("--iwae-k", type=int, default=100)
    t.add_argument("--reference", action="store_true", help="evaluate: also score the reference MLP VAE")
    t.add_argument("--notes", default=None, help="a note for the model card")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train)


def _add_evaluate(sub) -> None:
    e = sub.add_parser("evaluate", help="test-set figures as JSON, also written to DIR/metrics.json")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--classifier", default=None, help="cvae: classifier checkpoint for conditional fidelity")
    e.add_argument("--iwae-k", type=int, default=100)
    e.add_argument("--data-dir", default=None)
    e.add_argument("--reference", action="store_true",
                   help="also train the reference MLP VAE (pytorch/examples shape, 10 epochs) and score it the same way")
    e.set_defaults(func=cmd_evaluate)


def _add_sample_and_predict(sub) -> None:
    s = sub.add_parser("sample", help="decoded samples from the prior as a float32 .npy (N, C, H, W)")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--label", type=int, default=None)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_sample)

    pr = sub.add_parser("predict", help="predicted classes (int64 .npy) for images in a float32 .npy")
    pr.add_argument("--checkpoint", required=True)
    pr.add_argument("--images", required=True)
    pr.add_argument("--out", required=True)
    pr.set_defaults(func=cmd_predict)


def _add_fetch_data(sub) -> None:
    f = sub.add_parser("fetch-data", help="download a dataset (checksums verified)")
    f.add_argument("name", choices=["fashion-mnist", "mnist", "digits"])
    f.add_argument("--data-dir", default=None)
    f.add_argument("--mirror", action="append", default=None, help="base URL to download from (repeatable)")
    f.add_argument("--force", action="store_true", help="download even if the files are found locally")
    f.set_defaults(func=cmd_fetch_data)


def _add_project(sub) -> None:
    pj = sub.add_parser("project", help="map the test set's latent means to 2-D and cache it in DIR/projections")
    pj.add_argument("--checkpoint", required=True)
    pj.add_argument("--method", choices=["umap", "tsne", "pca"], required=True)
    pj.add_argument("--n-neighbors", type=int, default=None, help="umap: neighbours (default 15)")
    pj.add_argument("--min-dist", type=float, default=None, help="umap: minimum distance (default 0.1)")
    pj.add_argument("--perplexity", type=float, default=None, help="tsne: perplexity (default 30)")
    pj.add_argument("--seed", type=int, default=0)
    pj.add_argument("--data-dir", default=None)
    pj.set_defaults(func=cmd_project)


def main(argv: list[str] | None = None) -> int:
    from explorer.checkpoints import CheckpointError
    from explorer.core.config import ConfigError
    from explorer.data import DataError
    from explorer.training.device import DeviceError

    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the model card
    try:
        _check_paths(args)
        return args.func(args)
    except (UserError, CheckpointError, DataError, ConfigError, DeviceError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


# ---------------------------------------------------------------- project

def cmd_project(args: argparse.Namespace) -> int:
    """Encode the test set's means (a cvae with the true labels), map them, cache the map."""
    from explorer.checkpoints import load_checkpoint
    from explorer.data import load_dataset
    from explorer.analysis.latent import encode
    from explorer.maps.projection import ProjectionError, project, trustworthiness

    flags = {"umap": {"n_neighbors": args.n_neighbors, "min_dist": args.min_dist},
             "tsne": {"perplexity": args.perplexity}, "pca": {}}
    for method, given in flags.items():
        for name, value in given.items():
            if value is not None and method != args.method:
                raise UserError(f"--{name.replace('_', '-')} applies to --method {method} only, not {args.method}")
    params = {k: v for k, v in flags[args.method].items() if v is not None}
    ckpt = load_checkpoint(args.checkpoint)
    if ckpt.kind == "classifier":
        raise UserError(f"{args.checkpoint} is a classifier, which has no latent space; project needs a vae, "
                        "cvae or hybrid checkpoint")
    test = load_dataset(ckpt.dataset, "test", data_dir=args.data_dir)
    mu, _ = encode(ckpt.model, test.images, test.labels)
    try:
        proj = project(mu, args.method, params, seed=args.seed, cache_dir=Path(args.checkpoint) / "projections")
        trust = trustworthiness(mu, proj.coords)
    except ProjectionError as e:
        raise UserError(str(e)) from e
    if "cache_error" in proj.extra:
        print(f"warning: {proj.extra['cache_error']}", file=sys.stderr)
    print(json.dumps({"method": proj.method, "params": proj.params, "key": proj.key,
                      "seconds": round(proj.seconds, 3), "from_cache": proj.from_cache,
                      "trustworthiness": round(trust, 4), "n": int(len(proj.coords))}))
    return 0
