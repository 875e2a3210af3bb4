"""`python -m explorer bench`: the figures a user feels, each measured beside its baseline in one run.

    python -m explorer bench                          # everything (several minutes)
    python -m explorer bench --only projection,train  # some groups
    python -m explorer bench --quick --only cached    # small settings: a smoke test

Groups and their figures (a figure's baseline is measured in the same run, alternating
with it, and every figure is a median over `--repeats` runs):

    map         time_to_map_s, time_to_map_ratio: `streamlit run explorer/app.py` started to the
                latent map's plotly scatter drawn in headless Chromium, against a minimal
                Streamlit page drawing a 10,000-point scatter; peak_rss_mb: the app server's
                process tree after every page was opened once
    slider      slider_roundtrip_ms: a Traverse slider moved in the browser until the new
                decoded image is shown (median of 20 moves); slider_server_ms: the fragment's
                own rerun time for those moves, read from the server's timing log
    projection  projection_umap_s, projection_tsne_s: a fresh process mapping the test codes
                of the 16-D vae with the cache off, against umap-learn's and scikit-learn's
                defaults in a fresh process; trustworthiness (k = 10) of each map. Ours is
                timed cold: numba's on-disk cache (NUMBA_CACHE_DIR) is a new empty dir, so
                the compile counts; projection_umap_warm_s is a second fresh process once
                that cache is filled, as every map after the first one on a machine is
    cached      projection_cached_s: the same map again, read from the cache
    train       train_epoch_s, time_to_quality_ratio: the conv vae against the reference MLP
                VAE (explorer/training/reference.py), both trained in this run
    gpu         gpu_train_epoch_s: one epoch of the conv vae on CUDA (skipped without CUDA)
    users       many_users: N browser sessions at once, driven by explorer/tooling/loadclient.py;
                with the server's own CPU use and time per page run and per slider move
    reruns      rerun_<page>_ms: one warm full run of each page, the app's own time (median),
                measured in a fresh process with Streamlit's AppTest (explorer/tooling/reruns.py)

The JSON object goes to stdout (and to --out), the readable table to stderr. Nothing here
asserts a time: the figures are printed with their targets, and whether each is met.
Only the subprocesses this launches import streamlit.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATASET = "fashion-mnist"
VAE_CHECKPOINT = REPO / "checkpoints" / DATASET / "vae-16d"
GROUPS = ("map", "slider", "projection", "cached", "train", "gpu", "users", "reruns")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
BASELINE_POINTS = 10_000
TEST_POINTS = 10_000  # the Fashion-MNIST test set: the map is drawn when all its points are
SLIDER_MOVES = 20
LOAD_USERS = 20

# name: (what "met" means, test); figures without a target are reported but not judged
TARGETS: dict[str, tuple[str, Callable[[dict], bool | None]]] = {
    "time_to_map_ratio": ("< 1.5", lambda f: f["time_to_map_ratio"] < 1.5),
    "slider_roundtrip_ms": ("< 150", lambda f: f["slider_roundtrip_ms"] < 150),
    "slider_server_ms": ("< 30", lambda f: f["slider_server_ms"] < 30),
    "projection_umap_s": ("3x faster than umap-learn defaults, trustworthiness >= theirs",
                          lambda f: f["projection_umap_speedup"] >= 3
                          and f["projection_umap_trust"] >= f["baseline_umap_trust"]),
    "projection_tsne_s": ("3x faster than scikit-learn TSNE defaults, trustworthiness >= theirs",
                          lambda f: f["projection_tsne_speedup"] >= 3
                          and f["projection_tsne_trust"] >= f["baseline_tsne_trust"]),
    "projection_cached_s": ("< 0.2", lambda f: f["projection_cached_s"] < 0.2),
    "time_to_quality_ratio": ("< 1.0 (aim 0.5)", lambda f: f["time_to_quality_ratio"] < 1.0),
    "peak_rss_mb": ("< 1536", lambda f: f["peak_rss_mb"] < 1536),
    "gpu_train_epoch_s": ("< 1 on an H100-class GPU", lambda f: f["gpu_train_epoch_s"] < 1.0),
    "users_errors": ("0", lambda f: f["users_errors"] == 0),
    "users_isolation_problems": ("0", lambda f: f["users_isolation_problems"] == 0),
    "users_roundtrip_p95_ms": ("< 1000", lambda f: f["users_roundtrip_p95_ms"] < 1000),
}


@dataclass
class Settings:
    repeats: int = 3
    quick: bool = False
    chromium: str = field(default_factory=lambda: os.environ.get("EXPLORER_CHROMIUM", "/usr/bin/chromium"))
    users: int = LOAD_USERS


@dataclass
class Report:
    figures: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


# ---------------------------------------------------------------- processes and the browser

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streamlit_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "EXPLORER_BASELINE_POINTS": str(BASELINE_POINTS)}
    for k in ("EXPLORER_CHECKPOINTS", "EXPLORER_CHECKPOINTS_ONLY"):  # the shipped checkpoints, as a user gets them
        env.pop(k, None)
    env.update(extra or {})
    return env


@contextlib.contextmanager
def streamlit_server(script: Path, log: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen, float]]:
    """`streamlit run script` on a free port of 127.0.0.1; yields (url, process, start time); always stopped."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
           "--browser.gatherUsageStats", "false"]
    with open(log, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, env=env or streamlit_env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield f"http://127.0.0.1:{port}", proc, t0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until_up(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"streamlit did not answer on {url} within {timeout_s:.0f} s")


@contextlib.contextmanager
def browser(settings: Settings):
    """Headless Chromium through Playwright (Debian's chromium; Playwright's download is not used)."""
    from playwright.sync_api import sync_playwright

    if not Path(settings.chromium).is_file():
        raise RuntimeError(f"Chromium not found at {settings.chromium}; install it (make chromium) "
                           "or set EXPLORER_CHROMIUM")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=settings.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# The map is drawn when plotly has laid out a figure holding at least `n` points.
PLOT_DRAWN_JS = """(n) => {
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    if (!gd._fullLayout || !gd._fullData) continue;
    let k = 0;
    for (const t of gd._fullData) if (t.x && t.visible !== false) k += t.x.length;
    if (k >= n && gd.querySelector('canvas, .scatterlayer .point')) return true;
  }
  return false;
}"""

# The baseline pages (explorer/tooling/baselines/): a bare scatter, and a bare slider fragment.
BASELINE_PAGE = REPO / "explorer" / "tooling" / "baselines" / "scatter.py"
SLIDER_BASELINE_PAGE = REPO / "explorer" / "tooling" / "baselines" / "slider.py"


def time_to_plot(b, script: Path, log: Path, points: int, env=None, after: Callable | None = None) -> tuple[float, Any]:
    """Seconds from starting `streamlit run script` to a scatter of >= points drawn; `after(page, url, proc)` runs next."""
    with streamlit_server(script, log, env) as (url, proc, t0):
        wait_until_up(url, proc, log)
        page = b.new_page(viewport=VIEWPORT)
        page.set_default_timeout(120_000)
        try:
            page.goto(url)
            page.wait_for_function(PLOT_DRAWN_JS, arg=points, polling="raf", timeout=180_000)
            seconds = time.perf_counter() - t0
            extra = after(page, url, proc) if after is not None else None
        finally:
            page.close()
    return seconds, extra


# ---------------------------------------------------------------- memory

def tree_pids(root: int) -> list[int]:
    """`root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_rss_mb(root: int) -> tuple[float, float]:
    """(current RSS, sum of each process's peak RSS) of a process tree, MiB, from /proc/<pid>/status."""
    rss = hwm = 0
    for pid in tree_pids(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm += int(line.split()[1])
        except OSError:
            continue
    return rss / 1024, hwm / 1024


# ---------------------------------------------------------------- map, pages, memory

PAGES = ("Traverse", "Interpolate", "Generate")


def open_every_page(page, proc: subprocess.Popen) -> dict[str, float]:
    """Open each page once after the map, wait until it has drawn, then read the server's memory
    (each process's peak, VmHWM, so a peak while a page ran counts). Page times are rough: they
    include a fixed second of waiting for the old page's images to go."""
    seconds = {}
    for name in PAGES:
        t0 = time.perf_counter()
        page.get_by_role("link", name=name).click()
        page.wait_for_url(f"**/{name.lower()}", timeout=60_000)
        page.wait_for_timeout(1000)  # the old page's images stay until the new run replaces them
        page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stImage\"] img').length > 0"
                               " && !document.querySelector('[data-testid=\"stStatusWidget\"]')", polling=100,
                               timeout=120_000)
        page.wait_for_load_state("networkidle")
        seconds[name] = round(time.perf_counter() - t0, 3)
    rss, hwm = tree_rss_mb(proc.pid)
    return {"page_seconds": seconds, "rss_mb": round(rss, 1), "peak_rss_mb": round(hwm, 1)}


def bench_map(s: Settings, rep: Report, work: Path) -> None:
    """The app from a cold start once (an empty cache dir: a new machine's first run, not in the
    median), then `repeats` warm starts, each beside a start of the baseline page."""
    baseline = BASELINE_PAGE
    app = REPO / "explorer" / "app.py"
    env = streamlit_env({"EXPLORER_CACHE_DIR": str(work / "cache")})
    app_s, base_s, memory = [], [], []
    with browser(s) as b:
        cold, _ = time_to_plot(b, app, work / "app-cold.log", TEST_POINTS, env=env)
        for r in range(s.repeats):
            # alternate the order, so drift in the machine's load hits both alike
            for which in (("base", "app") if r % 2 == 0 else ("app", "base")):
                if which == "base":
                    t, _ = time_to_plot(b, baseline, work / "baseline.log", BASELINE_POINTS)
                    base_s.append(t)
                else:
                    last = r == s.repeats - 1
                    t, mem = time_to_plot(b, app, work / "app.log", TEST_POINTS, env=env,
                                          after=(lambda page, url, proc: open_every_page(page, proc)) if last else None)
                    app_s.append(t)
                    if mem:
                        memory.append(mem)
    rep.figures["time_to_map_s"] = round(median(app_s), 3)
    rep.figures["baseline_time_to_plot_s"] = round(median(base_s), 3)
    rep.figures["time_to_map_ratio"] = round(median(app_s) / median(base_s), 3)
    rep.figures["time_to_map_cold_s"] = round(cold, 3)
    rep.details["time_to_map"] = {"app_s": [round(x, 3) for x in app_s], "baseline_s": [round(x, 3) for x in base_s],
                                  "cold_s": round(cold, 3), "checkpoint": str(VAE_CHECKPOINT.relative_to(REPO)),
                                  "note": "cold: first start with an empty EXPLORER_CACHE_DIR (decoded data, "
                                          "test-set encodings and predictions not yet on disk); the others reuse it"}
    if memory:
        rep.figures["peak_rss_mb"] = memory[-1]["peak_rss_mb"]
        rep.details["memory"] = memory[-1]


# ---------------------------------------------------------------- slider

# The decoded image beside the Traverse sliders: the image whose caption starts "CNN:"
# (or, without a classifier, the first image in the fragment).
DECODED_SRC_JS = """() => {
  for (const cap of document.querySelectorAll('[data-testid="stImageCaption"]')) {
    if (!cap.innerText.startsWith('CNN:')) continue;
    const box = cap.closest('[data-testid="stImage"]') || cap.parentElement;
    const img = box && box.querySelector('img');
    if (img && img.complete && img.naturalWidth > 0) return img.src;
  }
  return null;
}"""
CHANGED_JS = """(before) => {
  const f = """ + DECODED_SRC_JS + """;
  const src = f();
  return src !== null && src !== before;
}"""


def warm_slider(page) -> None:
    """Two moves there and back: the first moves pay one-off costs (caches, fonts)."""
    page.locator('[data-testid="stSlider"]').first.get_by_role("slider").focus()
    for key in ("ArrowRight", "ArrowLeft"):
        before = page.evaluate(DECODED_SRC_JS)
        page.keyboard.press(key)
        page.wait_for_function(CHANGED_JS, arg=before, polling="raf", timeout=30_000)
        page.wait_for_timeout(300)


def slider_moves(page, moves: int) -> tuple[list[float], int]:
    """Move the first slider on the page `moves` times with the keyboard; the milliseconds from
    each key press to the new decoded image loaded in the page, and how many moves changed nothing."""
    page.locator('[data-testid="stSlider"]').first.get_by_role("slider").focus()
    roundtrips: list[float] = []
    misses = 0
    for i in range(moves):
        before = page.evaluate(DECODED_SRC_JS)
        key = "ArrowRight" if (i // 5) % 2 == 0 else "ArrowLeft"  # wander back and forth, stay in range
        t0 = time.perf_counter()
        page.keyboard.press(key)
        try:
            page.wait_for_function(CHANGED_JS, arg=before, polling="raf", timeout=10_000)
        except Exception:  # the image did not change (same pixels): not a round trip
            misses += 1
            continue
        roundtrips.append((time.perf_counter() - t0) * 1000)
        page.wait_for_timeout(300)  # let the rest of the fragment (the small map) settle before the next move
    return roundtrips, misses


def bench_slider(s: Settings, rep: Report, work: Path) -> None:
    """Traverse slider moves in the browser, alternating blocks with the same moves on a minimal
    page (one slider, one image, in a fragment); the server's own fragment times from its log."""
    log = work / "timing.jsonl"
    env = streamlit_env({"EXPLORER_TIMING_LOG": str(log), "EXPLORER_CACHE_DIR": str(work / "cache")})
    moves = 6 if s.quick else SLIDER_MOVES
    baseline = SLIDER_BASELINE_PAGE
    app_ms: list[float] = []
    base_ms: list[float] = []
    misses = 0
    with browser(s) as b, \
            streamlit_server(REPO / "explorer" / "app.py", work / "slider.log", env) as (url, proc, _), \
            streamlit_server(baseline, work / "slider-base.log") as (base_url, base_proc, _):
        wait_until_up(url, proc, work / "slider.log")
        wait_until_up(base_url, base_proc, work / "slider-base.log")
        page = b.new_page(viewport=VIEWPORT)
        page.set_default_timeout(120_000)
        page.goto(url)
        page.wait_for_function(PLOT_DRAWN_JS, arg=TEST_POINTS, polling="raf", timeout=180_000)
        page.get_by_role("link", name="Traverse").click()
        page.wait_for_function(f"() => ({DECODED_SRC_JS})() !== null", polling=50, timeout=120_000)
        page.wait_for_load_state("networkidle")
        base_page = b.new_page(viewport=VIEWPORT)
        base_page.set_default_timeout(120_000)
        base_page.goto(base_url)
        base_page.wait_for_function(f"() => ({DECODED_SRC_JS})() !== null", polling=50, timeout=120_000)
        warm_slider(page)
        warm_slider(base_page)
        log.unlink(missing_ok=True)  # the server-side times of the measured moves only
        half = max(1, moves // 2)
        for block in range(2):  # app, baseline, app, baseline: load drift hits both
            got, missed = slider_moves(page, half)
            app_ms += got
            misses += missed
            got, _ = slider_moves(base_page, half)
            base_ms += got
        page.close()
        base_page.close()
    from explorer.ui import timing  # reads the log only; imports no streamlit

    server = [r["ms"] for r in timing.read(log) if r.get("name") == "traverse.live"]
    if app_ms:
        rep.figures["slider_roundtrip_ms"] = round(median(app_ms), 1)
        if base_ms:
            rep.figures["baseline_slider_roundtrip_ms"] = round(median(base_ms), 1)
    else:
        rep.skipped["slider_roundtrip_ms"] = "no slider move changed the decoded image"
    if server:
        rep.figures["slider_server_ms"] = round(median(server), 1)
    else:
        rep.skipped["slider_server_ms"] = "the server wrote no timing lines (EXPLORER_TIMING_LOG)"
    rep.details["slider"] = {"moves": len(app_ms) + misses, "misses": misses,
                             "roundtrip_ms": [round(x, 1) for x in app_ms],
                             "baseline_roundtrip_ms": [round(x, 1) for x in base_ms], "server_ms": server,
                             "baseline": "a page with one slider and the image it draws, in a fragment"}


# ---------------------------------------------------------------- projections

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
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if numba_cache is not None:
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
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
    from explorer.maps.projection import trustworthiness

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
        for which in (order if r % 2 == 0 else order[::-1]):
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
    cache = work / "projections"
    if VAE_CHECKPOINT.joinpath("projections").is_dir() and not s.quick:
        shutil.copytree(VAE_CHECKPOINT / "projections", cache, dirs_exist_ok=True)
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


# ---------------------------------------------------------------- training

# The conv vae the bench trains: 16-D, as the shipped one, in its CPU recipe: narrower conv
# stages and no residual decoder blocks (a third of the shipped model's time per epoch on a
# CPU), a constant learning rate of 2e-3. Its test negative ELBO is checked four times an
# epoch, off the clock, so the time to reach the reference's quality is not rounded up to
# a whole epoch.
BENCH_VAE = {"channels": (16, 32), "depth": 0, "hidden": 256}
BENCH_TRAIN = {"batch_size": 128, "lr": 2e-3, "lr_schedule": "constant"}
CHECKS_PER_EPOCH = 4


def bench_vae_configs(quick: bool, device: str = "cpu", epochs: int = 10):
    from explorer.core.config import ModelConfig, TrainConfig

    model_cfg = ModelConfig(kind="vae", image_shape=(1, 28, 28), num_classes=10, latent_dim=16, **BENCH_VAE)
    train_cfg = TrainConfig(dataset=DATASET, epochs=epochs, device=device, **BENCH_TRAIN)
    return model_cfg, train_cfg


def _train_data(quick: bool):
    from explorer.data import load_dataset

    train, test = load_dataset(DATASET, "train"), load_dataset(DATASET, "test")
    if quick:
        train = dataclasses.replace(train, images=train.images[:2048], labels=train.labels[:2048])
        test = dataclasses.replace(test, images=test.images[:1000], labels=test.labels[:1000])
    return train, test


def train_until(model_cfg, train_cfg, train_data, test_data, target: float | None) -> dict:
    """Train, scoring the test set CHECKS_PER_EPOCH times an epoch (off the clock, with the
    same scorer as the reference); stops once the test negative ELBO is at `target` or below."""
    from explorer.analysis.metrics import elbo_terms
    from explorer.training.loop import train

    steps_per_epoch = max(1, len(train_data.images) // min(train_cfg.batch_size, len(train_data.images)))
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
                            "train_images": len(train_data.images)}


def bench_gpu(s: Settings, rep: Report, work: Path) -> None:
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


# ---------------------------------------------------------------- many users (hook)

def bench_users(s: Settings, rep: Report, work: Path) -> None:
    """Many users at once (issue 7's load test, full form): `s.users` sessions (3 of them real
    Chromium pages, the rest clients of Streamlit's websocket protocol) move Traverse sliders and
    switch pages on one server for 60 s (15 s with --quick); errors, isolation, round trips, memory."""
    from explorer.tooling import loadclient  # it speaks Streamlit's protobufs, so it lives under ui/

    from explorer.ui import timing

    log = work / "users.log"
    times = work / "timing.jsonl"
    env = streamlit_env({"EXPLORER_TIMING_LOG": str(times)})
    with streamlit_server(REPO / "explorer" / "app.py", log, env) as (url, proc, _):
        wait_until_up(url, proc, log)
        cpu = {}

        def started() -> None:
            times.unlink(missing_ok=True)
            cpu["start"] = (process_cpu_s(proc.pid), time.perf_counter())

        result = loadclient.run_load(url, sessions=s.users, seconds=15.0 if s.quick else 60.0,
                                     browsers=min(3, s.users), pid=proc.pid, chromium=s.chromium, on_start=started)
        if "start" in cpu:  # the server process's CPU seconds per second of the timed load (2.0: both cores)
            used, t0 = cpu["start"]
            result["server_cpu_per_s"] = round((process_cpu_s(proc.pid) - used) / (time.perf_counter() - t0), 2)
    result["server_ms"] = server_times(timing.read(times))
    rep.figures["users_errors"] = len(result.get("errors", []))
    rep.figures["users_isolation_problems"] = len(result.get("isolation_problems", []))
    if result.get("round_trip_p95_s") is not None:
        rep.figures["users_roundtrip_p95_ms"] = round(1000 * result["round_trip_p95_s"], 1)
        rep.figures["users_roundtrip_p50_ms"] = round(1000 * result["round_trip_p50_s"], 1)
    rep.details["many_users"] = result


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of one process so far (Linux /proc), 0.0 when unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def server_times(lines: list[dict]) -> dict[str, dict]:
    """Per timed part (a page's full run, a fragment's rerun): how many, median and p95 wall time
    in ms, median CPU time of the thread and CPU seconds in all (what each part cost the server
    during the load, apart from waiting for the others)."""
    by: dict[str, list[tuple[float, float]]] = {}
    for r in lines:
        by.setdefault(str(r.get("name")), []).append((float(r.get("ms", 0.0)), float(r.get("cpu_ms", 0.0))))
    out = {}
    for name, pairs in sorted(by.items()):
        ms = sorted(p[0] for p in pairs)
        cpu = [p[1] for p in pairs]
        out[name] = {"n": len(ms), "median_ms": round(median(ms), 1),
                     "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1),
                     "median_cpu_ms": round(median(cpu), 1), "cpu_s": round(sum(cpu) / 1000, 1)}
    return out


# ---------------------------------------------------------------- page reruns

def bench_reruns(s: Settings, rep: Report, work: Path) -> None:
    """Each page's warm full run, in a fresh process on the shipped checkpoints (AppTest)."""
    repeats = 3 if s.quick else max(5, s.repeats)
    done = subprocess.run([sys.executable, "-m", "explorer.tooling.reruns", "--repeats", str(repeats)], cwd=REPO,
                          env=streamlit_env({"EXPLORER_CACHE_DIR": str(work / "cache")}), capture_output=True,
                          text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "reruns failed")
    pages = json.loads(done.stdout.strip().splitlines()[-1])
    for page, t in pages.items():
        rep.figures[f"rerun_{page}_ms"] = t["wall_ms"]
    rep.details["reruns"] = {"repeats": repeats, "pages": pages,
                             "what": "median wall and CPU ms of the app's whole script per warm full run"}


BENCHES: dict[str, Callable[[Settings, Report, Path], None]] = {
    "map": bench_map, "slider": bench_slider, "projection": bench_projection, "cached": bench_cached,
    "train": bench_train, "gpu": bench_gpu, "users": bench_users, "reruns": bench_reruns,
}
# what each group reports, so a group that fails names what is missing
GROUP_FIGURES = {
    "map": ["time_to_map_s", "time_to_map_ratio", "peak_rss_mb"],
    "slider": ["slider_roundtrip_ms", "slider_server_ms"],
    "projection": ["projection_umap_s", "projection_tsne_s"],
    "cached": ["projection_cached_s"],
    "train": ["train_epoch_s", "time_to_quality_ratio"],
    "gpu": ["gpu_train_epoch_s"],
    "users": ["users_errors", "users_isolation_problems", "users_roundtrip_p95_ms"],
    "reruns": ["rerun_traverse_ms"],
}


# ---------------------------------------------------------------- run and report

def parse_only(text: str | None) -> list[str]:
    """The groups to run, in the order of GROUPS; ValueError names an unknown one."""
    if not text:
        return list(GROUPS)
    wanted = [w.strip() for w in text.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in GROUPS]
    if unknown:
        raise ValueError(f"unknown bench group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    return [g for g in GROUPS if g in wanted]


def judge(figures: dict) -> dict[str, dict]:
    out = {}
    for name, (target, test) in TARGETS.items():
        if name not in figures:
            continue
        try:
            met = bool(test(figures))
        except (KeyError, TypeError):
            met = None
        out[name] = {"value": figures[name], "target": target, "met": met}
    return out


def run(groups: list[str], settings: Settings, progress: Callable[[str], None] = lambda m: None) -> dict:
    """Run the chosen groups; returns the report as a JSON-ready dict."""
    import torch

    rep = Report()
    started = time.time()
    load_start = load_average()
    with tempfile.TemporaryDirectory(prefix="explorer-bench-") as tmp:
        for g in groups:
            progress(f"bench: {g}...")
            work = Path(tmp) / g
            work.mkdir()
            t0 = time.perf_counter()
            try:
                BENCHES[g](settings, rep, work)
            except Exception as e:  # one broken group must not lose the others' figures
                reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:400]
                for name in GROUP_FIGURES[g]:
                    if name not in rep.figures:
                        rep.skipped.setdefault(name, f"failed: {reason}")
            rep.details.setdefault("group_seconds", {})[g] = round(time.perf_counter() - t0, 1)
    return {
        "figures": rep.figures,
        "targets": judge(rep.figures),
        "skipped": rep.skipped,
        "settings": {"groups": groups, "repeats": settings.repeats, "quick": settings.quick},
        "machine": {"cpus": os.cpu_count(), "load_average_start": load_start, "load_average_end": load_average(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
                    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                    "seconds": round(time.time() - started, 1)},
        "details": rep.details,
    }


def table(result: dict) -> str:
    """The figures as aligned text: figure, value, target, met."""
    rows = [("figure", "value", "target", "met")]
    judged = result["targets"]
    for name, value in result["figures"].items():
        t = judged.get(name)
        shown = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        rows.append((name, shown, t["target"] if t else "", ("yes" if t["met"] else "NO") if t and t["met"] is not None else ""))
    for name, why in result["skipped"].items():
        rows.append((name, "skipped", why, ""))
    widths = [min(60, max(len(r[i]) for r in rows)) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3] for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    m = result["machine"]
    lines.append(f"load average {m['load_average_start']} -> {m['load_average_end']}, {m['cpus']} CPUs, "
                 f"{m['seconds']} s in all")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    b = argparse.ArgumentParser(prog="python -m explorer bench",
                                description="speed and memory figures, each beside its baseline (JSON on stdout, a table on stderr)")
    b.add_argument("--only", default=None,
                   help="comma-separated groups: map, slider, projection, cached, train, gpu, users, reruns")
    b.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    b.add_argument("--quick", action="store_true", help="small settings: a smoke test, not figures to quote")
    b.add_argument("--users", type=int, default=20, help="users: how many sessions the load test drives")
    b.add_argument("--out", default=None, help="also write the JSON to this file")
    return b


def main(argv: list[str] | None = None) -> int:
    """`python -m explorer bench [...]`: run the groups asked for, print the JSON and the table."""
    args = build_parser().parse_args(argv)
    try:
        groups = parse_only(args.only)
        if args.repeats < 1:
            raise ValueError(f"--repeats must be at least 1, got {args.repeats}")
        if args.users < 1:
            raise ValueError(f"--users must be at least 1, got {args.users}")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    settings = Settings(repeats=args.repeats, quick=args.quick, users=args.users)
    result = run(groups, settings, progress=lambda m: print(m, file=sys.stderr, flush=True))
    text = json.dumps(result, indent=2)
    if args.out:
        from explorer.core.atomic import write_text
        try:
            write_text(Path(args.out), text + "\n")
        except OSError as e:
            print(f"error: cannot write {args.out}: {e}", file=sys.stderr)
            return 2
    print(table(result), file=sys.stderr)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
