"""The onnx group: the shipped fashion-mnist/vae-16d and its classifier against their ONNX copies
(`export-onnx`, run on ONNX Runtime through checkpoints/adapter.py), side by side in one run.

    onnx_slider_ms       one Traverse slider move's work: decode one code, the CNN judges the image
                         (Context.decode + Context.classify), median over moves; torch_slider_ms beside it
    onnx_map_s           a map from nothing: encode the 10,000 test images, then a PCA map with the
                         cache off (PCA, so the encoder's time is not lost in UMAP's, which is the same
                         for both); torch_map_s beside it
    onnx_*_ratio         ONNX Runtime over torch: below 1 is faster

Both run with one intra-op thread, as in the app's server (ui/cache/models.TORCH_THREADS), set for
the group and restored after; the ONNX sessions take the same count when they are made. Runs
alternate torch, ONNX, torch, ...
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from explorer.tooling.bench.common import DATASET, VAE_CHECKPOINT, Report, Settings, median

CLASSIFIER = VAE_CHECKPOINT.parent / "classifier"
SLIDER_MOVES = 200
THREADS = 1  # as the app's server


def _slider_ms(vae, classifier, codes: np.ndarray) -> list[float]:
    from explorer.analysis import latent

    times = []
    for z in codes:
        t0 = time.perf_counter()
        image = latent.decode(vae, z[None])
        latent.classify(classifier, image)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _map_s(vae, images: np.ndarray) -> float:
    from explorer.analysis import latent
    from explorer.maps.projection import project

    t0 = time.perf_counter()
    mu, _ = latent.encode(vae, images)
    project(mu, "pca", {}, seed=0, cache_dir=None)
    return time.perf_counter() - t0


def _models(work: Path) -> dict[str, tuple]:
    from explorer.checkpoints import load_checkpoint
    from explorer.checkpoints.onnx_export import export_onnx

    out = {"torch": (load_checkpoint(VAE_CHECKPOINT).model, load_checkpoint(CLASSIFIER).model)}
    folders = [export_onnx(p, work / p.name) for p in (VAE_CHECKPOINT, CLASSIFIER)]
    out["onnx"] = tuple(load_checkpoint(f).model for f in folders)
    return out


def bench_onnx(s: Settings, rep: Report, work: Path) -> None:
    """Slider work and map time, torch against ONNX Runtime, alternating."""
    import torch

    from explorer.data import available_datasets, load_dataset

    if DATASET not in available_datasets():
        for name in ("onnx_slider_ms", "onnx_map_s"):
            rep.skipped[name] = f"{DATASET} is not downloaded (python -m explorer fetch-data {DATASET})"
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        models = _models(work)
        test = load_dataset(DATASET, "test")
        moves = 30 if s.quick else SLIDER_MOVES
        codes = np.random.default_rng(0).normal(size=(moves, models["torch"][0].cfg.latent_dim)).astype(np.float32)
        slider: dict[str, list[float]] = {"torch": [], "onnx": []}
        maps: dict[str, list[float]] = {"torch": [], "onnx": []}
        for _ in range(s.repeats):
            for name, (vae, clf) in models.items():
                slider[name] += _slider_ms(vae, clf, codes)
                maps[name].append(_map_s(vae, test.images))
    finally:
        torch.set_num_threads(threads)
    for name in ("torch", "onnx"):
        rep.figures[f"{name}_slider_ms"] = round(median(slider[name]), 3)
        rep.figures[f"{name}_map_s"] = round(median(maps[name]), 3)
    rep.figures["onnx_slider_ratio"] = round(rep.figures["onnx_slider_ms"] / rep.figures["torch_slider_ms"], 3)
    rep.figures["onnx_map_ratio"] = round(rep.figures["onnx_map_s"] / rep.figures["torch_map_s"], 3)
    rep.details["onnx"] = {"threads": THREADS, "slider_moves": len(slider["onnx"]), "map_runs": len(maps["onnx"]),
                           "checkpoint": str(VAE_CHECKPOINT), "classifier": str(CLASSIFIER)}
