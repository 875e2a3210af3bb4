"""The projection and cached groups.

projection: projection_umap_s, projection_tsne_s: a fresh process mapping the test codes of the
16-D vae with the cache off, against umap-learn's and scikit-learn's defaults in a fresh process;
trustworthiness (k = 10) of each map. Ours is timed cold: numba's on-disk cache
(NUMBA_CACHE_DIR) is a new empty dir, so the compile counts; projection_umap_warm_s is a second
fresh process once that cache is filled, as every map after the first one on a machine is.

cached: projection_cached_s: the same map again, read from the cache.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from explorer.checkpoints.layout import PROJECTIONS_DIR
from explorer.tooling.bench.common import REPO, VAE_CHECKPOINT, Report, Settings, alternating, load_average, median
from explorer.tooling.harness import repo_env

# Each runs in a fresh interpreter: its own imports (numba's compile for umap) count.
PROJECT_SNIPPETS = {
    "ours_umap": "from explorer.maps.projection import project\n"
                 "coords = project(x, 'umap', seed=0, cache_dir=None).coords",
    "ours_tsne": "from explorer.maps.projection import project\n"
                 "coords = project(x, 'tsne', seed=0, cache_dir=None).coords",
    "baseline_umap": "import umap\ncoords = umap.UMAP().fit_transform(x)",
    "baseline_tsne": "from sklearn.manifold import TSNE\ncoords = TSNE().fit_transform(x)",
}


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's finished children so far; 0 where unknown."""
    try:
        import resource
    except ImportError:  # not on this platform
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_projection(which: str, codes: Path, out: Path, numba_cache: Path | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (all threads) of a fresh process that maps the codes in `codes`
    and saves the map to `out`. On a busy machine the CPU seconds say more than the wall.

    `numba_cache`: numba's on-disk cache dir for that process (NUMBA_CACHE_DIR); None leaves
    numba's own (the baselines: umap-learn and pynndescent as installed, their caches too)."""
    code = ("import warnings, numpy as np\nwarnings.simplefilter('ignore')\n"
            f"x = np.load({str(codes)!r})\n{PROJECT_SNIPPETS[which.removesuffix('_warm')]}\n"
            f"np.save({str(out)!r}, np.asarray(coords, dtype=np.float32))\n")
    env = repo_env({"NUMBA_CACHE_DIR": str(numba_cache)} if numba_cache is not None else None)
    cpu0, t0 = _children_cpu_s(), time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - t0, _children_cpu_s() - cpu0
    if done.returncode != 0:
        raise RuntimeError(f"{which} failed: {done.stderr.strip()[-1500:]}")
    return seconds, cpu


_CODES: dict[bool, np.ndarray] = {}


def test_codes(s: Settings) -> np.ndarray:
    """Posterior means of the test set under the shipped 16-D vae (the first 2,000 with --quick)."""
    if s.quick not in _CODES:
        from explorer.checkpoints import load_checkpoint
        from explorer.data import load_dataset
        from explorer.analysis.latent import encode

        ckpt = load_checkpoint(VAE_CHECKPOINT)
        test = load_dataset(ckpt.dataset, "test")
        images = test.images[:2000] if s.quick else test.images
        _CODES[s.quick] = encode(ckpt.model, images)[0]
    return _CODES[s.quick]


def bench_projection(s: Settings, rep: Report, work: Path) -> None:
    """Ours against umap-learn's and scikit-learn's defaults, each in a fresh process, in alternating order."""
    from explorer.maps.quality import trustworthiness

    x = test_codes(s)
    codes = work / "codes.npy"
    np.save(codes, x)
    order = ["baseline_umap", "ours_umap", "baseline_tsne", "ours_tsne"]
    times: dict[str, list[float]] = {k: [] for k in order + ["ours_umap_warm"]}
    cpu: dict[str, list[float]] = {k: [] for k in order + ["ours_umap_warm"]}
    trust: dict[str, list[float]] = {k: [] for k in order}
    loads = []
    for r in range(s.repeats):
        cold = work / f"numba-cache-{r}"  # empty: ours pays numba's compile, as on a machine's first map
        for which in alternating(order, r):
            out = work / f"{which}.npy"
            loads.append((load_average() or [float("nan")])[0])
            wall, used = run_projection(which, codes, out, cold if which.startswith("ours") else None)
            times[which].append(wall)
            cpu[which].append(used)
            trust[which].append(trustworthiness(x, np.load(out), k=10))
            if which == "ours_umap":  # again, with numba's cache now filled
                wall, used = run_projection("ours_umap_warm", codes, work / "warm.npy", cold)
                times["ours_umap_warm"].append(wall)
                cpu["ours_umap_warm"].append(used)
                if not np.array_equal(np.load(work / "warm.npy"), np.load(out)):
                    raise RuntimeError("the UMAP map changed between two runs with the same seed")
    for m in ("umap", "tsne"):
        ours, base = median(times[f"ours_{m}"]), median(times[f"baseline_{m}"])
        rep.figures[f"projection_{m}_s"] = round(ours, 2)
        rep.figures[f"baseline_{m}_s"] = round(base, 2)
        rep.figures[f"projection_{m}_speedup"] = round(base / ours, 2)
        ours_cpu, base_cpu = median(cpu[f"ours_{m}"]), median(cpu[f"baseline_{m}"])
        if ours_cpu > 0:
            rep.figures[f"projection_{m}_cpu_speedup"] = round(base_cpu / ours_cpu, 2)
        rep.figures[f"projection_{m}_trust"] = round(median(trust[f"ours_{m}"]), 4)
        rep.figures[f"baseline_{m}_trust"] = round(median(trust[f"baseline_{m}"]), 4)
    rep.figures["projection_umap_warm_s"] = round(median(times["ours_umap_warm"]), 2)
    rep.details["projection"] = {"n": int(len(x)), "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
                                 "cpu_seconds": {k: [round(t, 2) for t in v] for k, v in cpu.items()},
                                 "trustworthiness_k10": {k: [round(t, 4) for t in v] for k, v in trust.items()},
                                 "load_1min_before_each_run": [round(v, 2) for v in loads],
                                 "baselines": {"baseline_umap": "umap.UMAP() defaults",
                                               "baseline_tsne": "sklearn.manifold.TSNE() defaults"},
                                 "ours": {"ours_umap": "explorer/maps/umap_layout.py, numba cache empty (cold)",
                                          "ours_umap_warm": "the same, numba cache filled by the cold run",
                                          "ours_tsne": "openTSNE, explorer/maps/projection.py settings"}}


def bench_cached(s: Settings, rep: Report, work: Path) -> None:
    """The map read back from the cache, as the app does on opening a checkpoint (a copy of the
    shipped maps, so the checkpoint itself is never written)."""
    from explorer.maps.projection import project

    x = test_codes(s)
    cache = work / PROJECTIONS_DIR
    if VAE_CHECKPOINT.joinpath(PROJECTIONS_DIR).is_dir() and not s.quick:
        shutil.copytree(VAE_CHECKPOINT / PROJECTIONS_DIR, cache, dirs_exist_ok=True)
    first = project(x, "umap" if not s.quick else "pca", seed=0, cache_dir=cache)  # a miss computes and writes it
    seconds = []
    for _ in range(max(5, s.repeats)):
        t0 = time.perf_counter()
        proj = project(x, first.method, seed=0, cache_dir=cache)
        seconds.append(time.perf_counter() - t0)
        if not proj.from_cache:
            raise RuntimeError("the map was not read from the cache")
    rep.figures["projection_cached_s"] = round(median(seconds), 4)
    rep.details["projection_cached"] = {"method": first.method, "shipped_map_used": first.from_cache,
                                        "seconds": [round(t, 4) for t in seconds]}
