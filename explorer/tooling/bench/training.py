"""The train and gpu groups.

train: train_epoch_s, time_to_quality_ratio: the conv vae against the reference MLP VAE
(explorer/training/reference.py), both trained in this run.
gpu: gpu_train_epoch_s: one epoch of the conv vae on CUDA (skipped without CUDA).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from explorer.tooling.bench.common import DATASET, Report, Settings, median

# The conv vae the bench trains: 16-D, as the shipped one, in its CPU recipe: narrower conv
# stages and no residual decoder blocks (a third of the shipped model's time per epoch on a
# CPU), a constant learning rate of 2e-3. Its test negative ELBO is checked four times an
# epoch, off the clock, so the time to reach the reference's quality is not rounded up to
# a whole epoch.
BENCH_VAE = {"channels": (16, 32), "depth": 0, "hidden": 256}
BENCH_TRAIN = {"batch_size": 128, "lr": 2e-3, "lr_schedule": "constant"}
CHECKS_PER_EPOCH = 4


def bench_vae_configs(quick: bool, device: str = "cpu", epochs: int = 10):
    """The (ModelConfig, TrainConfig) of the conv vae the bench trains."""
    from explorer.core.config import ModelConfig, TrainConfig

    model_cfg = ModelConfig(kind="vae", image_shape=(1, 28, 28), num_classes=10, latent_dim=16, **BENCH_VAE)
    train_cfg = TrainConfig(dataset=DATASET, epochs=epochs, device=device, **BENCH_TRAIN)
    return model_cfg, train_cfg


def _train_data(quick: bool):
    from explorer.data import load_dataset

    train, test = load_dataset(DATASET, "train"), load_dataset(DATASET, "test")
    if quick:
        train = dataclasses.replace(train, pixels=train.pixels[:2048], labels=train.labels[:2048])
        test = dataclasses.replace(test, pixels=test.pixels[:1000], labels=test.labels[:1000])
    return train, test


def train_until(model_cfg, train_cfg, train_data, test_data, target: float | None) -> dict:
    """Train, scoring the test set CHECKS_PER_EPOCH times an epoch (off the clock, with the
    same scorer as the reference); stops once the test negative ELBO is at `target` or below."""
    from explorer.analysis.metrics import elbo_terms
    from explorer.training.loop import train

    steps_per_epoch = max(1, len(train_data) // min(train_cfg.batch_size, len(train_data)))
    every = max(1, steps_per_epoch // CHECKS_PER_EPOCH)
    clock = {"train_s": 0.0, "since": time.perf_counter(), "steps": 0, "model": None}
    curve: list[tuple[float, float, float]] = []  # (epochs done, train seconds, test neg ELBO)
    reached: dict[str, float | None] = {"at_s": None}

    def check(model) -> None:
        clock["train_s"] += time.perf_counter() - clock["since"]
        was_training = model.training
        nelbo = elbo_terms(model, test_data.images, test_data.labels)["neg_elbo"]
        model.train(was_training)
        curve.append((round(clock["steps"] / steps_per_epoch, 2), round(clock["train_s"], 2), round(nelbo, 2)))
        if target is not None and reached["at_s"] is None and nelbo <= target:
            reached["at_s"] = clock["train_s"]
        clock["since"] = time.perf_counter()

    def should_stop() -> bool:  # called before every step: the place to look at the model mid-epoch
        if clock["steps"] and clock["steps"] % every == 0 and clock["model"] is not None:
            check(clock["model"])
        clock["steps"] += 1
        return reached["at_s"] is not None

    from explorer.models import build_model

    model = build_model(model_cfg)
    clock["model"] = model
    result = train(model_cfg, train_cfg, train_data, None, model=model, should_stop=should_stop)
    clock["steps"] -= 1  # the step that asked to stop was not taken
    if reached["at_s"] is None and result.state.status == "finished":
        check(result.model)
    epochs_done = clock["steps"] / steps_per_epoch
    return {"curve": curve, "reached_s": reached["at_s"], "train_s": clock["train_s"], "epochs_done": epochs_done,
            "epoch_s": clock["train_s"] / max(epochs_done, 1e-9), "device": result.device}


def bench_train(s: Settings, rep: Report, work: Path) -> None:
    """The reference MLP VAE trained first; then the conv vae until it reaches the reference's test negative ELBO."""
    from explorer.training.reference import train_reference

    train_data, test_data = _train_data(s.quick)
    ref_epochs = 2 if s.quick else 10
    walls = []
    _, ref = train_reference(train_data, test_data, epochs=ref_epochs, on_epoch=lambda r, t: walls.append(t))
    target = ref["neg_elbo"]
    model_cfg, train_cfg = bench_vae_configs(s.quick, epochs=4 if s.quick else 10)
    ours = train_until(model_cfg, train_cfg, train_data, test_data, target)
    rep.figures["reference_10_epochs_s"] = round(ref["train_seconds"], 2)
    rep.figures["reference_neg_elbo"] = round(target, 2)
    rep.figures["train_epoch_s"] = round(ours["epoch_s"], 2)
    if ours["reached_s"] is not None:
        rep.figures["time_to_quality_s"] = round(ours["reached_s"], 2)
        rep.figures["time_to_quality_ratio"] = round(ours["reached_s"] / ref["train_seconds"], 3)
    else:
        rep.skipped["time_to_quality_ratio"] = (f"the conv vae did not reach {target:.2f} nats in "
                                                f"{train_cfg.epochs} epochs (best {min(c[2] for c in ours['curve']):.2f})")
    rep.details["train"] = {"reference": {"epochs": ref_epochs, "epoch_walls_s": [round(w, 2) for w in walls],
                                          "test_neg_elbo": round(target, 2)},
                            "conv_vae": {"model": model_cfg.to_dict(), "train": train_cfg.to_dict(),
                                         "curve_epochs_train_s_test_neg_elbo": ours["curve"],
                                         "epochs_trained": round(ours["epochs_done"], 2),
                                         "train_s": round(ours["train_s"], 2)},
                            "train_images": len(train_data)}


def bench_gpu(s: Settings, rep: Report, work: Path) -> None:
    """Three epochs of the conv vae on CUDA; the median of the last two."""
    import torch

    if not torch.cuda.is_available():
        rep.skipped["gpu_train_epoch_s"] = "no CUDA device here (torch.cuda.is_available() is False)"
        return
    from explorer.training.loop import train

    train_data, _ = _train_data(s.quick)
    model_cfg, train_cfg = bench_vae_configs(s.quick, device="cuda", epochs=3)
    result = train(model_cfg, train_cfg, train_data, None)
    epochs = [h["seconds"] for h in result.state.history]
    rep.figures["gpu_train_epoch_s"] = round(median(epochs[1:]), 3)  # the first pays for kernel selection
    rep.details["gpu"] = {"device": result.device, "epoch_s": [round(e, 3) for e in epochs]}
