"""The commands that use a checkpoint: evaluate, sample, predict, project, export-onnx; and fetch-data."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from explorer.checkpoints.layout import PROJECTIONS_DIR
from explorer.cli.common import UserError
from explorer.core.atomic import replacing
from explorer.core.finite import non_finite_count
from explorer.core.npyfile import load_npy
from explorer.core.kinds import CLASSIFYING_KINDS, is_conditional
from explorer.training.evaluate import evaluate_checkpoint


def cmd_evaluate(args: argparse.Namespace) -> int:
    """The figures as JSON on stdout, whether or not they were written; why not on stderr."""
    done = evaluate_checkpoint(args.checkpoint, classifier=args.classifier, iwae_k=args.iwae_k,
                               data_dir=args.data_dir, reference=args.reference, overwrite=args.overwrite)
    from explorer.core.atomic import json_safe
    print(json.dumps(json_safe(done.metrics)))
    if not done.written:
        print(f"not written: {done.reason}", file=sys.stderr)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from explorer.checkpoints import load_checkpoint
    from explorer.analysis.metrics import sample_images

    ckpt = load_checkpoint(args.checkpoint)
    if ckpt.kind == "classifier":
        raise UserError(f"{args.checkpoint} is a classifier; sample needs a vae, cvae or hybrid checkpoint")
    if not (1 <= args.n <= 100_000):
        raise UserError(f"--n must be between 1 and 100000, got {args.n}")
    if not (-2**63 <= args.seed < 2**64):  # what torch's generator takes
        raise UserError(f"--seed must be a whole number from 0 to 2**64 - 1, got {args.seed}")
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
    _check_finite(images, args.checkpoint)
    _save_npy(args.out, images)
    print(f"wrote {images.shape[0]} images of shape {tuple(images.shape[1:])} to {args.out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from explorer.checkpoints import load_checkpoint
    from explorer.analysis.metrics import predict_proba

    ckpt = load_checkpoint(args.checkpoint)
    if ckpt.kind not in CLASSIFYING_KINDS:
        raise UserError(f"{args.checkpoint} is a {ckpt.kind}; predict needs a classifier or hybrid checkpoint")
    images = load_npy(args.images, f"--images {args.images}", error=UserError)  # its declared size checked first
    shape = tuple(ckpt.model_cfg.image_shape)
    if images.ndim != 4 or tuple(images.shape[1:]) != shape:
        raise UserError(f"--images {args.images} has shape {images.shape}; this model needs (N, {', '.join(map(str, shape))})")
    if not np.issubdtype(images.dtype, np.floating):
        raise UserError(f"--images {args.images} has dtype {images.dtype}; expected float32 intensities in [0, 1]")
    if images.size and (not np.isfinite(images).all() or images.min() < 0 or images.max() > 1):
        raise UserError(f"--images {args.images} has values outside [0, 1] (or NaN); scale intensities to [0, 1]")
    proba = predict_proba(ckpt.model, images.astype(np.float32))
    _check_finite(proba, args.checkpoint)
    pred = proba.argmax(1).astype(np.int64)
    _save_npy(args.out, pred)
    print(f"wrote {len(pred)} predictions to {args.out}")
    return 0


def _check_finite(outputs: np.ndarray, checkpoint: str) -> None:
    """Nothing non-finite is ever written: a NaN image or probability is the model's fault, not an answer."""
    bad = non_finite_count(outputs)
    if bad:
        raise UserError(f"the model in {checkpoint} produced {bad:,} non-finite values (NaN or infinity), so "
                        "nothing was written; its weights are damaged or it diverged: retrain it or use another checkpoint")


def _save_npy(path: str, array: np.ndarray) -> None:
    """np.save via a temporary file, so a failed write leaves no half file."""
    path = Path(path)
    if path.suffix != ".npy":
        raise UserError(f"--out {path} must end in .npy")
    try:
        with replacing(path) as f:
            np.save(f, array)
    except OSError as e:  # a folder of that name, a parent that is a file, no permission, a full disk
        raise UserError(f"--out {path} cannot be written ({e.strerror or e}); choose another path") from e


def cmd_export_onnx(args: argparse.Namespace) -> int:
    from explorer.checkpoints.onnx_export import export_onnx

    out = export_onnx(args.checkpoint, args.out)
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")
    return 0


def cmd_fetch_data(args: argparse.Namespace) -> int:
    from explorer.cli.fetch_data import fetch_data_command
    return fetch_data_command(args)


def cmd_project(args: argparse.Namespace) -> int:
    """Encode the means of the chosen split(s) (a cvae with the true labels), map them, cache the map.
    With `--split all` row i is test image i and row n_test + j training image j; `--out` writes
    the map with each row's split and index."""
    from explorer.checkpoints import load_checkpoint
    from explorer.maps.projection import ProjectionError, project
    from explorer.maps.quality import trustworthiness

    params = _project_params(args)
    ckpt = load_checkpoint(args.checkpoint)
    if ckpt.kind == "classifier":
        raise UserError(f"{args.checkpoint} is a classifier, which has no latent space; project needs a vae, "
                        "cvae or hybrid checkpoint")
    mu, rows = _split_codes(ckpt, args.split, args.data_dir)
    try:
        proj = project(mu, args.method, params, seed=args.seed, cache_dir=Path(args.checkpoint) / PROJECTIONS_DIR)
        trust = trustworthiness(mu, proj.coords)
    except ProjectionError as e:
        raise UserError(str(e)) from e
    if "cache_error" in proj.extra:
        print(f"warning: {proj.extra['cache_error']}", file=sys.stderr)
    if args.out is not None:
        _save_map(args.out, proj.coords, rows)
    print(json.dumps({"method": proj.method, "params": proj.params, "key": proj.key, "split": args.split,
                      "rows": rows.counts(), "seconds": round(proj.seconds, 3), "from_cache": proj.from_cache,
                      "trustworthiness": round(trust, 4), "n": int(len(proj.coords))}))
    return 0


def _project_params(args: argparse.Namespace) -> dict:
    flags = {"umap": {"n_neighbors": args.n_neighbors, "min_dist": args.min_dist},
             "tsne": {"perplexity": args.perplexity}, "pca": {}}
    for method, given in flags.items():
        for name, value in given.items():
            if value is not None and method != args.method:
                raise UserError(f"--{name.replace('_', '-')} applies to --method {method} only, not {args.method}")
    return {k: v for k, v in flags[args.method].items() if v is not None}


def _split_codes(ckpt, split: str, data_dir):
    """The posterior means of `split` ("test", "train" or "all": test rows first) with their Rows."""
    from explorer.analysis.latent import encode
    from explorer.data import load_dataset
    from explorer.maps.splits import CHOICES, stack

    if split not in CHOICES:
        raise UserError(f"--split must be one of {', '.join(CHOICES)}, got {split!r}")
    from explorer.checkpoints import check_fits

    parts = {}
    for name in CHOICES[split]:
        data = load_dataset(ckpt.dataset, name, data_dir=data_dir)
        check_fits(ckpt, data)
        parts[name], _ = encode(ckpt.model, data.pixels, data.labels)
    return stack(parts)


def _save_map(path: str, coords: np.ndarray, rows) -> None:
    """The map as an .npz: coords (N, 2), split (N,) 0 test / 1 train, index (N,) within the split."""
    if Path(path).suffix != ".npz":
        raise UserError(f"--out {path} must end in .npz")
    try:
        with replacing(Path(path)) as f:
            np.savez(f, coords=coords, split=rows.split, index=rows.index)
    except OSError as e:
        raise UserError(f"--out {path} cannot be written ({e.strerror or e}); choose another path") from e
