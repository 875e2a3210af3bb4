"""The bigmap group: the whole Fashion-MNIST dataset (70,000 codes of the shipped 16-D vae) on the map.

- bigmap_umap_s against bigmap_baseline_umap_s: our UMAP (explorer/maps/umap_layout.py, a fresh
  process, numba's cache empty) and umap-learn's defaults (a fresh process) on the same 70,000
  codes, in alternating order; bigmap_umap_trust and bigmap_baseline_umap_trust: scikit-learn's
  trustworthiness (k = 10) of each map on one random sample of 5,000 points (seed 0), the same
  sample for both (the whole 70,000 would need a 70,000 squared distance matrix): a coarse
  scale, a sample's 10 nearest being about a point's 140 nearest of all; so also
  bigmap_umap_recall15 and bigmap_baseline_umap_recall15, the finest scale: the share of a
  point's 15 nearest codes among all 70,000 that stay among its 15 nearest on the map, over
  2,000 random points (maps/quality.neighbour_recall).
- bigmap_draw_ratio: in headless Chromium, one server, a new page each time: from opening the
  Map page to the whole map's 70,000 points drawn, against the test map's 10,000, both cached
  (a first visit computes the training set's passes and the map, not timed); alternating order.

A click on either map is the bigmap_click group (bigmap_click.py).
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from explorer.tooling.bench.bigmap_click import QUERY, TEST_N, WAIT_MS, WHOLE_N
from explorer.tooling.bench.common import (APP, VAE_CHECKPOINT, Report, Settings, alternating, bench_env,
                                            load_average, median)
from explorer.tooling.bench.projection import run_projection
from explorer.tooling.harness import PLOT_DRAWN_JS, VIEWPORT, chromium, streamlit_server

TRUST_SAMPLE = 5_000


def whole_codes(s: Settings) -> np.ndarray:
    """The shipped 16-D vae's means of the test set, then the training set ((N, 16); 7,000 with --quick)."""
    from explorer.analysis.latent import encode
    from explorer.checkpoints import load_checkpoint
    from explorer.data import load_dataset
    from explorer.maps.splits import stack

    ckpt = load_checkpoint(VAE_CHECKPOINT)
    parts = {}
    for split in ("test", "train"):
        images = load_dataset(ckpt.dataset, split).images
        parts[split] = encode(ckpt.model, images[: (1000 if split == "test" else 6000)] if s.quick else images)[0]
    return stack(parts)[0]


def bench_umap(s: Settings, rep: Report, work: Path) -> None:
    from sklearn.manifold import trustworthiness

    from explorer.maps.quality import neighbour_recall

    x = whole_codes(s)
    codes = work / "codes.npy"
    np.save(codes, x)
    keep = np.random.default_rng(0).choice(len(x), min(TRUST_SAMPLE, len(x)), replace=False)
    runs = {"ours_umap": [], "baseline_umap": []}
    cpu = {k: [] for k in runs}
    trust = {k: [] for k in runs}
    recall = {k: [] for k in runs}
    loads = []
    for r in range(s.repeats):
        for which in alternating(runs, r):
            out = work / f"{which}.npy"
            loads.append((load_average() or [float("nan")])[0])
            wall, used = run_projection(which, codes, out, work / f"numba-{r}" if which == "ours_umap" else None)
            runs[which].append(wall)
            cpu[which].append(used)
            trust[which].append(float(trustworthiness(x[keep], np.load(out)[keep], n_neighbors=10)))
            recall[which].append(neighbour_recall(x, np.load(out), k=15))
    ours, base = median(runs["ours_umap"]), median(runs["baseline_umap"])
    rep.figures.update({
        "bigmap_umap_s": round(ours, 1), "bigmap_baseline_umap_s": round(base, 1),
        "bigmap_umap_speedup": round(base / ours, 2),
        "bigmap_umap_trust": round(median(trust["ours_umap"]), 4),
        "bigmap_baseline_umap_trust": round(median(trust["baseline_umap"]), 4),
        "bigmap_umap_recall15": round(median(recall["ours_umap"]), 4),
        "bigmap_baseline_umap_recall15": round(median(recall["baseline_umap"]), 4),
    })
    if median(cpu["ours_umap"]) > 0:
        rep.figures["bigmap_umap_cpu_speedup"] = round(median(cpu["baseline_umap"]) / median(cpu["ours_umap"]), 2)
    rep.details["bigmap_umap"] = {
        "n": int(len(x)), "trust_sample": int(len(keep)),
        "seconds": {k: [round(t, 1) for t in v] for k, v in runs.items()},
        "cpu_seconds": {k: [round(t, 1) for t in v] for k, v in cpu.items()},
        "trustworthiness_k10": {k: [round(t, 4) for t in v] for k, v in trust.items()},
        "neighbour_recall_k15": {k: [round(t, 4) for t in v] for k, v in recall.items()},
        "load_1min_before_each_run": loads}


def _draw(b, url: str, points: int) -> float:
    """Seconds from opening `url` in a new page to `points` points drawn."""
    page = b.new_page(viewport=VIEWPORT)
    try:
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_function(PLOT_DRAWN_JS, arg=points, polling="raf", timeout=WAIT_MS)
        return time.perf_counter() - t0
    finally:
        page.close()


def bench_draw(s: Settings, rep: Report, work: Path) -> None:
    """The cached 70,000-point map's first draw against the 10,000-point one."""
    root = work / "checkpoints"
    shutil.copytree(VAE_CHECKPOINT.parent.parent, root)  # the app writes its maps into a copy, not the repository
    env = bench_env({"EXPLORER_CACHE_DIR": str(work / "cache"), "EXPLORER_CHECKPOINTS": str(root),
                     "EXPLORER_CHECKPOINTS_ONLY": "1"})
    # PCA (QUERY): what is timed is the drawing, which depends on the points, not on the method
    draws = {"test": [], "whole": []}
    with chromium(s.chromium) as b, streamlit_server(APP, work / "app.log", env) as server:
        urls = {"test": server.url + QUERY, "whole": server.url + QUERY + "&map_whole=true"}
        counts = {"test": TEST_N, "whole": WHOLE_N}
        first = _draw(b, urls["whole"], WHOLE_N)  # computes and caches the training set's passes
        for r in range(max(3, s.repeats)):
            for which in alternating(("test", "whole"), r):
                draws[which].append(_draw(b, urls[which], counts[which]))
    rep.figures.update({
        "bigmap_draw_s": round(median(draws["whole"]), 2), "bigmap_draw_test_s": round(median(draws["test"]), 2),
        "bigmap_draw_ratio": round(median(draws["whole"]) / median(draws["test"]), 2),
    })
    rep.details["bigmap_draw"] = {"first_visit_s": round(first, 1), "points": counts,
                                  "seconds": {k: [round(t, 2) for t in v] for k, v in draws.items()}}


def bench_bigmap(s: Settings, rep: Report, work: Path) -> None:
    """Both halves; one failing leaves the other's figures."""
    errors = []
    for part in (bench_draw, bench_umap):
        try:
            part(s, rep, work)
        except Exception as e:  # noqa: BLE001  (reported, and the runner marks the missing figures)
            errors.append(f"{part.__name__}: {type(e).__name__}: {e}")
    if errors:
        raise RuntimeError("; ".join(errors))
