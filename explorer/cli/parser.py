"""The `python -m explorer` argument parser: one subcommand per verb, each bound to its function."""
from __future__ import annotations

import argparse

from explorer.cli.commands import (
    cmd_evaluate, cmd_export_onnx, cmd_fetch_data, cmd_predict, cmd_project, cmd_sample,
)
from explorer.cli.serve import START_TIMEOUT_S, cmd_serve
from explorer.cli.train import cmd_train
from explorer.core.kinds import MODEL_KINDS


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
    p = argparse.ArgumentParser(prog="python -m explorer", description="Latent Explorer: train, evaluate and use VAEs.")
    sub = p.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_evaluate(sub)
    _add_sample_and_predict(sub)
    _add_fetch_data(sub)
    _add_project(sub)
    x = sub.add_parser("export-onnx", help="write a checkpoint as an ONNX model folder (encoder, decoder, classifier, "
                                           "model.json) that the app and ONNX Runtime anywhere can load")
    x.add_argument("--checkpoint", required=True)
    x.add_argument("--out", required=True, help="the folder to write (replaced whole if it is an ONNX model folder)")
    x.set_defaults(func=cmd_export_onnx)
    _add_serve(sub)
    # Listed for --help; `python -m explorer bench` is routed to the developer tooling by
    # explorer/__main__.py before this parser runs, so the product never imports the tooling.
    b = sub.add_parser("bench", add_help=False,
                       help="speed and memory figures, each beside its baseline (python -m explorer bench --help)")
    b.set_defaults(func=_bench_elsewhere)
    return p


def _bench_elsewhere(args: argparse.Namespace) -> int:
    from explorer.cli.common import UserError
    raise UserError("bench is developer tooling: run it as `python -m explorer bench` from a shell")


def _add_train(sub) -> None:
    t = sub.add_parser("train", help="train a model and write a checkpoint")
    t.add_argument("--kind", choices=list(MODEL_KINDS), default="vae")
    t.add_argument("--dataset", default="fashion-mnist",
                   help="a dataset's name, or a folder of images with one subfolder per class")
    t.add_argument("--side", type=int, choices=[28, 32, 64], default=None,
                   help="a folder's images are resized to this square (default 32), the aspect ratio kept")
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
    t.add_argument("--batch-size", type=int, default=128,
                   help="the global batch: under torchrun --nproc_per_node N each process takes 1/N of it "
                        "(a multiple of N), so a run on N processes takes the same steps as on one")
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
    e.add_argument("--overwrite", action="store_true",
                   help="replace figures in metrics.json measured with more effort (a larger --iwae-k, more test "
                        "images) or judged by another --classifier; without it they are kept and only printed")
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
    f.add_argument("name", choices=["fashion-mnist", "mnist", "digits", "cifar-10"])
    f.add_argument("--data-dir", default=None)
    f.add_argument("--mirror", action="append", default=None, help="base URL to download from (repeatable)")
    f.add_argument("--force", action="store_true", help="download even if the files are found locally")
    f.set_defaults(func=cmd_fetch_data)


def _add_project(sub) -> None:
    pj = sub.add_parser("project", help="map a split's latent means to 2-D and cache it in DIR/projections")
    pj.add_argument("--checkpoint", required=True)
    pj.add_argument("--method", choices=["umap", "tsne", "pca"], required=True)
    pj.add_argument("--n-neighbors", type=int, default=None, help="umap: neighbours (default 15)")
    pj.add_argument("--min-dist", type=float, default=None, help="umap: minimum distance (default 0.1)")
    pj.add_argument("--perplexity", type=float, default=None, help="tsne: perplexity (default 30)")
    pj.add_argument("--split", choices=["test", "train", "all"], default="test",
                    help="the images to map: test (default), train, or all (test rows first, then train)")
    pj.add_argument("--out", default=None, help="also write the map to this .npz: coords, split (0 test, 1 train), index")
    pj.add_argument("--seed", type=int, default=0)
    pj.add_argument("--data-dir", default=None)
    pj.set_defaults(func=cmd_project)


def _add_serve(sub) -> None:
    sv = sub.add_parser("serve", help="serve a class: N app processes behind HAProxy, until Ctrl-C")
    sv.add_argument("--replicas", type=int, default=None,
                    help="app processes (default: one per core, fewer where memory is short)")
    sv.add_argument("--port", type=int, default=8501, help="the port browsers open (default 8501)")
    sv.add_argument("--address", default="127.0.0.1",
                    help="where to listen (default 127.0.0.1, this machine only; 0.0.0.0 for a class's laptops)")
    sv.add_argument("--run-dir", default=None, help="where the configuration and logs go "
                                                    "(default: <cache dir>/serve/port-<P>)")
    sv.add_argument("--start-timeout", type=float, default=START_TIMEOUT_S, metavar="SECONDS",
                    help="a replica that has not answered this long after a start is killed and started again "
                         f"(default {START_TIMEOUT_S:g})")
    sv.set_defaults(func=cmd_serve)
