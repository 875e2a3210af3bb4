"""The map group: time_to_map_s and time_to_map_ratio (`streamlit run explorer/app.py` started to
the latent map drawn in headless Chromium, against a minimal page drawing a 10,000-point
scatter), time_to_map_cold_s and time_to_map_cold_ratio (the same from an empty cache dir, a
fresh machine's first start, against the same baseline), and peak_rss_mb (the app server's process tree after every page was opened once)."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from explorer.tooling.bench.common import (
    APP, BASELINE_POINTS, BASELINES, REPO, TEST_POINTS, VAE_CHECKPOINT, Report, Settings, alternating, bench_env, median,
)
from explorer.tooling.harness import PLOT_DRAWN_JS, VIEWPORT, chromium, streamlit_server, tree_rss_mb

BASELINE_PAGE = BASELINES / "scatter.py"
PAGES = ("Traverse", "Interpolate", "Generate")  # opened after the map, for the memory figure
IMAGES_DRAWN_JS = ("() => document.querySelectorAll('[data-testid=\"stImage\"] img').length > 0"
                   " && !document.querySelector('[data-testid=\"stStatusWidget\"]')")


def time_to_plot(b, script: Path, log: Path, points: int, env=None, after: Callable | None = None) -> tuple[float, Any]:
    """Seconds from starting `streamlit run script` to a scatter of >= points drawn; `after(page, url, proc)` runs next."""
    with streamlit_server(script, log, env or bench_env()) as server:
        page = b.new_page(viewport=VIEWPORT)
        page.set_default_timeout(120_000)
        try:
            page.goto(server.url)
            page.wait_for_function(PLOT_DRAWN_JS, arg=points, polling="raf", timeout=180_000)
            seconds = time.perf_counter() - server.started
            extra = after(page, server.url, server.proc) if after is not None else None
        finally:
            page.close()
    return seconds, extra


def open_every_page(page, proc) -> dict[str, Any]:
    """Open each page once after the map, wait until it has drawn, then read the server's memory
    (each process's peak, VmHWM, so a peak while a page ran counts). Page times are rough: they
    include a fixed second of waiting for the old page's images to go."""
    seconds = {}
    for name in PAGES:
        t0 = time.perf_counter()
        page.get_by_role("link", name=name).click()
        page.wait_for_url(f"**/{name.lower()}", timeout=60_000)
        page.wait_for_timeout(1000)  # the old page's images stay until the new run replaces them
        page.wait_for_function(IMAGES_DRAWN_JS, polling=100, timeout=120_000)
        page.wait_for_load_state("networkidle")
        seconds[name] = round(time.perf_counter() - t0, 3)
    rss, hwm = tree_rss_mb(proc.pid)
    return {"page_seconds": seconds, "rss_mb": round(rss, 1), "peak_rss_mb": round(hwm, 1)}


def bench_map(s: Settings, rep: Report, work: Path) -> None:
    """The app from a cold start once (an empty cache dir: a new machine's first run, not in the
    median), then `repeats` warm starts, each beside a start of the baseline page."""
    env = bench_env({"EXPLORER_CACHE_DIR": str(work / "cache")})
    app_s, base_s, memory = [], [], []
    with chromium(s.chromium) as b:
        cold, _ = time_to_plot(b, APP, work / "app-cold.log", TEST_POINTS, env=env)
        for r in range(s.repeats):
            for which in alternating(("base", "app"), r):
                if which == "base":
                    t, _ = time_to_plot(b, BASELINE_PAGE, work / "baseline.log", BASELINE_POINTS)
                    base_s.append(t)
                else:
                    last = r == s.repeats - 1
                    t, mem = time_to_plot(b, APP, work / "app.log", TEST_POINTS, env=env,
                                          after=(lambda page, url, proc: open_every_page(page, proc)) if last else None)
                    app_s.append(t)
                    if mem:
                        memory.append(mem)
    rep.figures["time_to_map_s"] = round(median(app_s), 3)
    rep.figures["baseline_time_to_plot_s"] = round(median(base_s), 3)
    rep.figures["time_to_map_ratio"] = round(median(app_s) / median(base_s), 3)
    rep.figures["time_to_map_cold_s"] = round(cold, 3)
    rep.figures["time_to_map_cold_ratio"] = round(cold / median(base_s), 3)
    rep.details["time_to_map"] = {"app_s": [round(x, 3) for x in app_s], "baseline_s": [round(x, 3) for x in base_s],
                                  "cold_s": round(cold, 3), "checkpoint": str(VAE_CHECKPOINT.relative_to(REPO)),
                                  "note": "cold: first start with an empty EXPLORER_CACHE_DIR (decoded data, "
                                          "test-set encodings and predictions not yet on disk); the others reuse it"}
    if memory:
        rep.figures["peak_rss_mb"] = memory[-1]["peak_rss_mb"]
        rep.details["memory"] = memory[-1]
