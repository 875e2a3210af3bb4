"""The folder group: a person's own folder of 20,000 small PNG images.

folder_first_load_s: a fresh process loading both splits of the folder at side 32 with an empty
cache dir, as `train --dataset PATH` does (explorer.data.folders.folder_datasets: listing,
decoding, resizing, the split, writing the cache), against
folder_pillow_loop_s: a fresh process listing the same files and decoding each with a plain
loop of Pillow (`Image.open(path).load()`), in alternating order; folder_first_load_ratio is
ours over the loop. folder_second_load_s: a fresh process loading the folder again, from the
cache the first load wrote. folder_serial_decode_s: our decoding in one process, to show what
the worker processes add. Only the load itself is timed in each process, not its imports; each
figure also comes as CPU seconds (`_cpu_s`), which a busy machine disturbs less than the wall.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from explorer.tooling.bench.common import REPO, Report, Settings, alternating, median
from explorer.tooling.harness import repo_env

IMAGES = 20_000
QUICK_IMAGES = 2_000
CLASSES = 10
SIDE = 32

SNIPPETS = {
    "ours": "from explorer.data import folder_dataset_id\nfrom explorer.data.folders import folder_datasets\n"
            "t0, c0 = time.perf_counter(), time.process_time()\nname = folder_dataset_id(root, 32)\n"
            "train, test, problems = folder_datasets(name)\nn = len(train) + len(test)\n",
    "pillow": "from PIL import Image\n"
              "t0, c0 = time.perf_counter(), time.process_time()\n"
              "paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)\n"
              "for p in paths:\n    with Image.open(p) as im:\n        im.load()\n"
              "n = len(paths)\n",
    "serial": "from explorer.data.folder_decode import decode_all\n"
              "t0, c0 = time.perf_counter(), time.process_time()\n"
              "paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)\n"
              "n = len(decode_all(paths, 32, workers=1))\n",
}


def make_folder(root: Path, n: int) -> None:
    """`n` PNGs of 24 to 48 pixels a side in CLASSES class folders: a class's hue, a gradient, noise."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        label = i % CLASSES
        h, w = rng.integers(24, 49, 2)
        ramp = np.linspace(0, 1, w)[None, :, None] * np.linspace(0.3, 1, h)[:, None, None]
        hue = np.array([(label * 37) % 256, (label * 91) % 256, (label * 53) % 256]) / 255
        pixels = 255 * ramp * hue + rng.normal(0, 12, (h, w, 3))
        folder = root / f"class-{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"{i:05d}.png")


def timed(which: str, root: Path, cache: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds (all threads) a fresh process takes for `which`, its imports not
    counted, and the images it handled. On a busy machine the CPU seconds say more than the wall."""
    code = (f"import json, os, time\nroot = {str(root)!r}\n{SNIPPETS[which]}"
            "print(json.dumps([time.perf_counter() - t0, time.process_time() - c0, n]))\n")
    env = repo_env({"EXPLORER_CACHE_DIR": str(cache)})
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{which} failed: {done.stderr.strip()[-1500:]}")
    seconds, cpu, n = json.loads(done.stdout.strip().splitlines()[-1])
    return float(seconds), float(cpu), int(n)


def bench_folder(s: Settings, rep: Report, work: Path) -> None:
    """First load against a plain Pillow loop (alternating), then the second load from the cache."""
    n = QUICK_IMAGES if s.quick else IMAGES
    root = work / "pictures"
    make_folder(root, n)
    times: dict[str, list[float]] = {k: [] for k in ("ours", "pillow", "second", "serial")}
    cpu: dict[str, list[float]] = {k: [] for k in times}
    for r in range(s.repeats):
        cache = work / f"cache-{r}"  # empty: the first load decodes every file
        runs = alternating(["pillow", "ours"], r) + ["second", "serial"]
        for which in runs:
            where = work / "unused" if which == "serial" else cache
            wall, used, _ = timed("ours" if which == "second" else which, root, where)
            times[which].append(wall)
            cpu[which].append(used)
    _figures(rep, times, cpu, n)


def _figures(rep: Report, times: dict[str, list[float]], cpu: dict[str, list[float]], n: int) -> None:
    ours, loop = median(times["ours"]), median(times["pillow"])
    rep.figures.update({
        "folder_first_load_s": round(ours, 3), "folder_pillow_loop_s": round(loop, 3),
        "folder_first_load_ratio": round(ours / loop, 3),
        "folder_second_load_s": round(median(times["second"]), 3),
        "folder_serial_decode_s": round(median(times["serial"]), 3),
        "folder_first_load_cpu_s": round(median(cpu["ours"]), 3),
        "folder_pillow_loop_cpu_s": round(median(cpu["pillow"]), 3),
        "folder_first_load_cpu_ratio": round(median(cpu["ours"]) / median(cpu["pillow"]), 3),
        "folder_second_load_cpu_s": round(median(cpu["second"]), 3),
    })
    rep.details["folder"] = {"images": n, "side": SIDE, "cpus": os.cpu_count(),
                             "wall_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
                             "cpu_s": {k: [round(t, 3) for t in v] for k, v in cpu.items()}}
