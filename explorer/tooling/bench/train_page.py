"""The trainpage group: a Fashion-MNIST epoch as the Train page runs it (a background job,
explorer.training.jobs) against the same settings through the CLI, alternately, in one run.

train_page_epoch_s / train_cli_epoch_s: the median training seconds of one epoch (the loop's
own per-epoch clock, read from each checkpoint's history), and train_page_epoch_ratio, their
ratio. With --quick each run stops after QUICK_STEPS steps and the seconds are scaled up to a
whole epoch. The details keep each run's wall time, start to checkpoint, and the load average.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from explorer.tooling.bench.common import DATASET, Report, Settings, load_average, median
from explorer.tooling.harness import REPO, repo_env

QUICK_STEPS = 40


def page_spec(out_root: Path, name: str, max_steps: int):
    """The job the Train page's Quick preset starts (one epoch here), evaluated without IWAE."""
    import dataclasses

    from explorer.training.settings import QUICK, job_spec

    settings = dataclasses.replace(QUICK, dataset=DATASET, epochs=1, device="cpu", name=name)
    spec = job_spec(settings, out_root, [], owner="bench")
    spec.train["max_steps"] = max_steps
    spec.iwae_k = 0
    return spec


def cli_args(spec, out_root: Path) -> list[str]:
    """`python -m explorer train` with the flags that give the same configs as `spec`."""
    m, t = spec.model, spec.train
    return [sys.executable, "-m", "explorer", "train", "--kind", m["kind"], "--dataset", t["dataset"],
            "--latent-dim", str(m["latent_dim"]), "--channels", ",".join(str(c) for c in m["channels"]),
            "--hidden", str(m["hidden"]), "--depth", str(m["depth"]), "--beta", str(m["beta"]),
            "--epochs", str(t["epochs"]), "--batch-size", str(t["batch_size"]), "--lr", str(t["lr"]),
            "--lr-schedule", t["lr_schedule"], "--weight-decay", str(t["weight_decay"]),
            "--augment", t["augment"], "--seed", str(t["seed"]), "--device", t["device"],
            "--max-steps", str(t["max_steps"]), "--name", Path(spec.out).name, "--out-dir", str(out_root),
            "--no-evaluate", "--quiet"]


def _epoch_s(checkpoint: Path, steps_per_epoch: int) -> float:
    """The checkpoint's first epoch in training seconds, scaled to a whole epoch when it stopped early."""
    from explorer.checkpoints import load_checkpoint

    record = load_checkpoint(checkpoint, with_model=False).state.history[0]
    return record["seconds"] * steps_per_epoch / max(1, record["step"])


def run_cli(spec, out_root: Path) -> float:
    """Seconds from starting the CLI to its exit."""
    t0 = time.perf_counter()
    subprocess.run(cli_args(spec, out_root), check=True, cwd=REPO, env=repo_env(), capture_output=True)
    return time.perf_counter() - t0


def run_job(spec, runs_root: Path, timeout_s: float = 900) -> float:
    """Seconds from starting the background job until its checkpoint is saved and it is evaluating."""
    from explorer.training import jobs

    t0 = time.perf_counter()
    run = jobs.start(spec, runs_root)
    run = jobs.wait(run, states=("evaluating", "finished", "cancelled", "diverged", "failed", "stopped"),
                    timeout=timeout_s)
    wall = time.perf_counter() - t0
    if run.state not in ("evaluating", "finished"):
        raise RuntimeError(f"the background run ended {run.state}: {run.status.get('message')}")
    jobs.wait(run, timeout=timeout_s)  # let its evaluation end before the next run starts
    return wall


def bench_train_page(s: Settings, rep: Report, work: Path) -> None:
    """Alternate CLI and background-job runs of one Fashion-MNIST epoch; medians of each."""
    from explorer.data import load_dataset

    steps = QUICK_STEPS if s.quick else 0
    n_train = len(load_dataset(DATASET, "train"))
    cli_s, job_s, cli_wall, job_wall = [], [], [], []
    load = [load_average()]
    for i in range(max(1, s.repeats if not s.quick else 1)):
        out = work / f"trainpage-{i}"
        spec = page_spec(out / "job", "page", steps)
        per_epoch = n_train // spec.train["batch_size"]
        cli_wall.append(run_cli(spec, out / "cli"))
        cli_s.append(_epoch_s(out / "cli" / DATASET / "page", per_epoch))
        job_wall.append(run_job(spec, out / "runs"))
        job_s.append(_epoch_s(Path(spec.out), per_epoch))
        load.append(load_average())
    rep.figures["train_cli_epoch_s"] = round(median(cli_s), 2)
    rep.figures["train_page_epoch_s"] = round(median(job_s), 2)
    rep.figures["train_page_epoch_ratio"] = round(median(job_s) / median(cli_s), 3)
    rep.details["trainpage"] = {"model": spec.model, "train": spec.train, "cli_epoch_s": [round(x, 2) for x in cli_s],
                                "page_epoch_s": [round(x, 2) for x in job_s],
                                "cli_wall_s": [round(x, 2) for x in cli_wall],
                                "page_wall_s": [round(x, 2) for x in job_wall], "load_average": load}
