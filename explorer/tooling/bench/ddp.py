"""The ddp group: the same training run on one process and on several (torchrun, DDP), same
global batch, side by side.

ddp_train_s: training seconds (the epochs' own times, rank 0's) on `nproc` processes;
single_train_s on one process with torch's default threads, its baseline; ddp_speedup their
ratio; single_1thread_train_s one process of one thread, as each DDP rank on a CPU is; ddp_test_neg_elbo and single_test_neg_elbo, the final test -ELBO of each, which should
agree within noise. With CUDA, one process a GPU (nccl); without, `nproc` CPU processes of one
thread each (gloo), which share the machine's cores with each other.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from explorer.tooling.bench.common import DATASET, Report, Settings, median
from explorer.tooling.harness import REPO, repo_env

# The bench's CPU recipe of the conv vae (training.BENCH_VAE), two epochs of Fashion-MNIST;
# --quick: digits, three epochs.
RECIPE = ["--kind", "vae", "--latent-dim", "16", "--channels", "16,32", "--depth", "0", "--batch-size", "128",
          "--quiet", "--no-evaluate"]


def _command(root: Path, name: str, nproc: int, quick: bool, threads: int = 0) -> list[str]:
    data = ["--dataset", "digits", "--epochs", "3"] if quick else ["--dataset", DATASET, "--epochs", "2"]
    from explorer.training.distributed import launcher

    return [sys.executable, *launcher(nproc), "-m", "explorer", "train", *RECIPE, *data, "--out-dir", str(root),
            "--name", name, "--threads", str(threads)]


def _train(root: Path, name: str, nproc: int, quick: bool, threads: int = 0) -> dict:
    """One run: its wall time, training seconds and final test -ELBO, from its checkpoint."""
    t0 = time.perf_counter()
    proc = subprocess.run(_command(root, name, nproc, quick, threads), cwd=REPO, env=repo_env({}), capture_output=True,
                          text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"training on {nproc} process(es) failed: {proc.stderr.strip()[-400:]}")
    config = json.loads(next((root).glob(f"*/{name}/config.json")).read_text())
    history = config["history"]
    return {"wall_s": round(wall, 1), "train_s": round(sum(h["seconds"] for h in history), 2),
            "test_neg_elbo": round(history[-1]["test_neg_elbo"], 3), "world_size": config["train"]["world_size"],
            "command": " ".join(_command(root, name, nproc, quick, threads)[1:])}


def bench_ddp(s: Settings, rep: Report, work: Path) -> None:
    """The recipe on one process and on two (one a GPU where there are two), alternating, `repeats`
    times each; medians."""
    import torch

    nproc = 2
    if torch.cuda.is_available() and torch.cuda.device_count() < nproc:
        rep.skipped["ddp_train_s"] = f"one process a GPU: {torch.cuda.device_count()} GPU(s) here, {nproc} needed"
        return
    runs: dict[str, list[dict]] = {"single": [], "single_1thread": [], "ddp": []}
    for i in range(s.repeats):
        runs["single"].append(_train(work, f"single-{i}", 1, s.quick))
        runs["single_1thread"].append(_train(work, f"single-1t-{i}", 1, s.quick, threads=1))
        runs["ddp"].append(_train(work, f"ddp-{i}", nproc, s.quick))
    rep.figures["single_1thread_train_s"] = round(median([r["train_s"] for r in runs["single_1thread"]]), 2)
    for k in ("ddp", "single"):
        rep.figures[f"{k}_train_s"] = round(median([r["train_s"] for r in runs[k]]), 2)
        rep.figures[f"{k}_test_neg_elbo"] = round(median([r["test_neg_elbo"] for r in runs[k]]), 3)
    rep.figures["ddp_speedup"] = round(rep.figures["single_train_s"] / rep.figures["ddp_train_s"], 2)
    rep.details["ddp"] = {"processes": nproc, "runs": runs}
