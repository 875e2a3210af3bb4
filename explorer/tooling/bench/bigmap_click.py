"""The bigmap_click group: a click on a point of the drawn map, answered with its picture beside
the map, on the 10,000-point test map and on the 70,000-point map of both sets, alternating.

- bigmap_click_ms / bigmap_click_test_ms: from the first click on a freshly opened page to the
  point's picture shown beside the map (the median of the runs).
- bigmap_click_next_ms / bigmap_click_test_next_ms: the clicks that follow on the same page,
  each on another point, until its picture replaces the last one (the median of all of them):
  what a person exploring the map meets most of the time.
- bigmap_click_first_ms: the first click on the test map of a server just started (the models
  not yet used by any page), 1 s after the map is drawn.
- bigmap_click_redraws / bigmap_click_test_redraws: how many times plotly.js drew the map again
  for the click (its plotly_afterplot events, and a map element replaced by a new one), counted
  once the page is idle again; 0 when only the pick panel changes.
- bigmap_click_browser_ms / bigmap_click_test_browser_ms: from the click to the browser's message
  to the server (plotly.js marking the pick, then Streamlit sending it): what no server can save.
  Here that is mostly the map drawn again in software: Chromium on a machine without a GPU
  renders WebGL with SwiftShader and reads every frame back for its software compositor.
- in the details, per click: the bytes the server sent over the websocket for it until the
  picture showed, ms from the click to the browser's message to the server and to the server's
  first answer, and the server's own time for the run (the Map page's whole run, or the map's
  fragment) from the timing log (explorer/ui/timing.py).

The training set's passes (60,000 images encoded and judged: minutes) are kept between bench
runs under the cache dir (KEPT), with the copy of the shipped checkpoints they are keyed by; the
map is PCA (what a click costs depends on the points, not on the method), so nothing else is
computed. The first run fills KEPT, outside the timed clicks.
"""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from explorer.core.paths import cache_dir
from explorer.tooling import timing_log
from explorer.tooling.bench.common import APP, VAE_CHECKPOINT, Report, Settings, alternating, bench_env, median
from explorer.tooling.harness import DRAWS_JS, PLOT_DRAWN_JS, POINT_JS, VIEWPORT, chromium, streamlit_server

TEST_N, WHOLE_N = 10_000, 70_000
KEPT = "bench-bigmap"  # under the cache dir: the checkpoints' copy and the app's cache for it
WAIT_MS = 900_000  # a first visit encodes 60,000 images and judges them: minutes on a busy machine
QUERY = "?map_method=PCA&map_color=predicted"  # a bound option is named in the link by its label
def kept_checkpoints() -> Path:
    """The kept copy of the shipped checkpoints (the app writes its maps there, not into the repository)."""
    root = cache_dir() / KEPT / "checkpoints"
    if not (root / VAE_CHECKPOINT.name).is_dir() and not any(root.glob(f"*/{VAE_CHECKPOINT.name}")):
        shutil.rmtree(root, ignore_errors=True)
        # copy2 keeps the files' times, which the cached passes' keys hold
        shutil.copytree(VAE_CHECKPOINT.parent.parent, root)
    return root


def kept_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A bench server's environment over the kept checkpoints and cache."""
    return bench_env({"EXPLORER_CACHE_DIR": str(cache_dir() / KEPT / "cache"),
                      "EXPLORER_CHECKPOINTS": str(kept_checkpoints()), "EXPLORER_CHECKPOINTS_ONLY": "1",
                      **(extra or {})})


def open_map(b, url: str, points: int, frames: list | None = None):
    """A new page with the map of `points` points drawn and the page settled; with `frames`, each
    websocket frame goes into it as (perf_counter, "sent" or "received", bytes)."""
    page = b.new_page(viewport=VIEWPORT)
    if frames is not None:
        def watch(ws):
            ws.on("framesent", lambda f: frames.append((time.perf_counter(), "sent", len(f))))
            ws.on("framereceived", lambda f: frames.append((time.perf_counter(), "received", len(f))))
        page.on("websocket", watch)
    page.goto(url)
    page.wait_for_function(PLOT_DRAWN_JS, arg=points, polling="raf", timeout=WAIT_MS)
    page.wait_for_timeout(1000)  # the page settled: its run over, the map idle
    return page


def click(b, url: str, points: int, log: Path | None = None, at: float = 0.5, more: int = 0) -> dict:
    """A click on a point of the drawn map (at fraction `at` of its biggest trace: another point
    each run, so its picture is not one a run before made): ms to its picture, the map's draws,
    the bytes the server sent, ms to the browser's message to the server and to the server's
    first answer, and the server's own ms for the run (from `log`, the timing log); then `more`
    clicks on other points of the same page, ms each to the new picture ("next_ms")."""
    frames: list[tuple[float, str, int]] = []
    page = open_map(b, url, points, frames)
    try:
        point = page.evaluate(POINT_JS, at)
        page.mouse.move(point["x"], point["y"])
        page.wait_for_timeout(300)  # plotly finds the point under the cursor on hover
        if log is not None:
            log.unlink(missing_ok=True)
        frames.clear()
        t0 = time.perf_counter()
        page.mouse.click(point["x"], point["y"])
        page.get_by_text("1 selected").wait_for(timeout=60_000)
        page.locator(CAPTION).filter(has_text=PICKED).first.wait_for(timeout=60_000)
        ms = 1000 * (time.perf_counter() - t0)
        page.wait_for_timeout(1500)  # whatever the click still draws, drawn
        server = {r["name"]: round(r["ms"], 1) for r in timing_log.read(log)} if log is not None else {}
        first = {kind: next((round(1000 * (t - t0)) for t, k, _ in frames if k == kind), None)
                 for kind in ("sent", "received")}
        found = {"ms": ms, "draws": int(page.evaluate(DRAWS_JS)), "server_ms": server,
                 "bytes": int(sum(n for t, k, n in frames if k == "received" and t - t0 < ms / 1000)),
                 "ms_to_sent": first["sent"], "ms_to_answer": first["received"]}
        return {**found, "next_ms": [next_click(page, (at + 0.13 * (k + 1)) % 1) for k in range(more)]}
    finally:
        page.close()


CAPTION = '[data-testid="stImageCaption"]'
# a picked image's caption ("#12", "train #7"), not the blank row's the panel shows before a pick
PICKED = re.compile(r"^(train )?#\d+$")
# the pictures' captions differ from `before` (a list of caption texts)
CAPTIONS_CHANGED_JS = """(before) => {
  const now = [...document.querySelectorAll('[data-testid="stImageCaption"]')].map(e => e.innerText);
  return now.length > 0 && JSON.stringify(now) !== JSON.stringify(before);
}"""


def next_click(page, at: float) -> float:
    """ms from a click on another point of a map that already shows a pick to the new pick's
    picture in place of the old one (a point under the old one's picture is skipped)."""
    before = page.locator(CAPTION).all_inner_texts()
    for step in range(20):
        point = page.evaluate(POINT_JS, (at + 0.01 * step) % 1)
        if f"#{point['index']}" not in before:
            break
    page.mouse.move(point["x"], point["y"])
    page.wait_for_timeout(300)
    t0 = time.perf_counter()
    page.mouse.click(point["x"], point["y"])
    page.wait_for_function(CAPTIONS_CHANGED_JS, arg=before, polling="raf", timeout=60_000)
    ms = 1000 * (time.perf_counter() - t0)
    page.wait_for_timeout(800)
    return ms


NEXT = 3  # clicks after the first on each page


def clicks(b, url: str, repeats: int, log: Path | None = None) -> dict[str, list[dict]]:
    """The first click on the server just started ("first"); then `repeats` pages of each map
    (test, then whole; the order alternating run by run), a first click and NEXT more on each."""
    urls = {"test": url + QUERY, "whole": url + QUERY + "&map_whole=true"}
    counts = {"test": TEST_N, "whole": WHOLE_N}
    # the first click on the server just started, before any page has used the models
    found: dict[str, list[dict]] = {"first": [click(b, urls["test"], TEST_N, at=0.21)], "test": [], "whole": []}
    open_map(b, urls["whole"], WHOLE_N).close()  # the training set's passes: computed once, then kept
    for r in range(repeats):
        for which in alternating(("test", "whole"), r):
            found[which].append(click(b, urls[which], counts[which], log, at=(0.5 + 0.37 * r) % 1, more=NEXT))
    return found


def report_clicks(rep: Report, found: dict[str, list[dict]]) -> None:
    """The medians as figures; every click in the details."""
    for which, suffix in (("whole", ""), ("test", "_test")):
        runs = found[which]
        rep.figures[f"bigmap_click{suffix}_ms"] = round(median([r["ms"] for r in runs]))
        rep.figures[f"bigmap_click{suffix}_redraws"] = round(median([r["draws"] for r in runs]))
        asked = [r["ms_to_sent"] for r in runs if r["ms_to_sent"] is not None]
        if asked:  # the browser's own part: plotly.js marking the pick before Streamlit sends it
            rep.figures[f"bigmap_click{suffix}_browser_ms"] = round(median(asked))
        rep.figures[f"bigmap_click{suffix}_next_ms"] = round(median([ms for r in runs for ms in r["next_ms"]]))
    rep.figures["bigmap_click_first_ms"] = round(found["first"][0]["ms"])
    rep.details["bigmap_click"] = {k: [{**r, "ms": round(r["ms"]), "next_ms": [round(x) for x in r["next_ms"]]}
                                       for r in v] for k, v in found.items()}


def bench_click(s: Settings, rep: Report, work: Path) -> None:
    """Clicks on both maps, side by side, over the kept training-set passes."""
    log = work / "timing.jsonl"
    with chromium(s.chromium) as b, \
            streamlit_server(APP, work / "app.log", kept_env({"EXPLORER_TIMING_LOG": str(log)})) as server:
        report_clicks(rep, clicks(b, server.url, max(3, s.repeats), log))
