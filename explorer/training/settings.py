"""What the Train page asks for, checked and turned into a JobSpec (plain values in, no UI)."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from explorer.data import dataset_dir_name
from explorer.core.config import ConfigError, ModelConfig, TrainConfig
from explorer.core.errors import ExplorerError
from explorer.data import get_spec
from explorer.training.jobs import JobSpec

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # a checkpoint name: one safe path part

# The network's size. "small" is the bench's CPU recipe (explorer/tooling/bench/training.py):
# narrower conv stages and no residual decoder blocks, about a third of "full"'s time per epoch
# on a CPU; "full" is the shipped Fashion-MNIST models' size. Digits (8x8 images, seconds an
# epoch) keeps the default widths without residual blocks, as its shipped models do.
SIZES: dict[str, dict] = {
    "small": {"channels": (16, 32), "hidden": 256, "depth": 0},
    "full": {"channels": (32, 64), "hidden": 256, "depth": 1},
}


class SettingsError(ExplorerError, ValueError):
    """Settings that cannot be trained; the message says what to change."""


@dataclass(frozen=True)
class TrainSettings:
    """The choices on the Train page."""

    dataset: str
    kind: str
    latent_dim: int
    beta: float
    cls_weight: float
    epochs: int
    batch_size: int
    lr: float
    seed: int
    device: str
    name: str  # the checkpoint folder's name, under root/<dataset_dir_name(dataset)>/
    size: str = "small"  # a key of SIZES
    processes: int = 1   # DDP ranks, one GPU each (explorer/training/distributed.py)


# The Train page's Quick preset: a Fashion-MNIST model worth exploring within a couple of minutes
# on a laptop CPU (docs/measurements.md, "Training on the Train page").
QUICK = TrainSettings(dataset="fashion-mnist", kind="vae", latent_dim=16, beta=1.0, cls_weight=0.0, epochs=3,
                      batch_size=128, lr=2e-3, seed=0, device="auto", name="vae-16d-quick", size="small")


def job_spec(settings: TrainSettings, root: Path, classifiers: Sequence[Path], owner: str) -> JobSpec:
    """The job that trains `settings` into root/<dataset's folder>/name. The final evaluation judges a
    cvae's samples by the first of `classifiers` (the dataset's usable classifier checkpoints),
    else by root/dataset/classifier when there is one. Raises SettingsError."""
    s = settings
    name = s.name.strip()
    if not NAME_RE.match(name):
        raise SettingsError("The checkpoint name may use letters, digits, '.', '-' and '_' (up to 64), starting "
                            "with a letter or digit. Pick another name.")
    if s.size not in SIZES:
        raise SettingsError(f"Unknown network size {s.size!r}; choose one of {', '.join(SIZES)}.")
    _check_processes(s)
    spec = get_spec(s.dataset)
    net = {"depth": 0} if s.dataset == "digits" else SIZES[s.size]
    try:
        model_cfg = ModelConfig(kind=s.kind, image_shape=spec.image_shape, num_classes=spec.num_classes,
                                latent_dim=int(s.latent_dim), beta=float(s.beta), cls_weight=float(s.cls_weight),
                                **net)
        train_cfg = TrainConfig(dataset=s.dataset, epochs=int(s.epochs), batch_size=int(s.batch_size),
                                lr=float(s.lr), seed=int(s.seed), device=s.device, world_size=int(s.processes))
    except ConfigError as e:
        raise SettingsError(f"These settings cannot be trained: {e}") from e
    folder = root / dataset_dir_name(s.dataset)
    fallback = folder / "classifier"
    classifier = str(classifiers[0]) if classifiers else (str(fallback) if fallback.exists() else None)
    return JobSpec(model=model_cfg.to_dict(), train=train_cfg.to_dict(), out=str(folder / name),
                   classifier=classifier, owner=owner, iwae_k=20)


def process_choices(gpus: int) -> tuple[list[int], str]:
    """How many processes a run may train on with `gpus` CUDA GPUs (one each), and a word on it."""
    if gpus > 1:
        return list(range(1, gpus + 1)), (f"{gpus} GPUs: one process a GPU, the batch split between them. "
                                          "It pays for large folders and large networks; on digits or "
                                          "Fashion-MNIST one GPU is already faster than the data")
    if gpus == 1:
        return [1], "One GPU: one process is fastest."
    return [1], "No GPU: training runs in one process (several on one CPU only share its cores)."


def _check_processes(s: TrainSettings) -> None:
    """SettingsError unless `s.processes` GPUs, one a process, can train its batch."""
    if s.processes == 1:
        return
    if s.device not in ("auto", "cuda"):
        raise SettingsError(f"{s.processes} processes train on {s.processes} GPUs, one each; choose the device "
                            "auto or cuda, or 1 process.")
    if s.batch_size % s.processes:
        raise SettingsError(f"The batch of {s.batch_size} is split between {s.processes} processes; pick a "
                            f"batch size that is a multiple of {s.processes}.")
