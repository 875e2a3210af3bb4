"""The slider group: slider_roundtrip_ms (a Traverse slider moved in the browser until the new
decoded image is shown, median of 20 moves, beside the same moves on a minimal slider page) and
slider_server_ms (the fragment's own rerun time for those moves, from the server's timing log)."""
from __future__ import annotations

import time
from pathlib import Path

from explorer.tooling import timing_log
from explorer.tooling.bench.common import APP, BASELINES, TEST_POINTS, Report, Settings, bench_env, median
from explorer.tooling.harness import PLOT_DRAWN_JS, VIEWPORT, chromium, streamlit_server

SLIDER_BASELINE_PAGE = BASELINES / "slider.py"
SLIDER_MOVES = 20

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
    env = bench_env({"EXPLORER_TIMING_LOG": str(log), "EXPLORER_CACHE_DIR": str(work / "cache")})
    moves = 6 if s.quick else SLIDER_MOVES
    app_ms: list[float] = []
    base_ms: list[float] = []
    misses = 0
    with chromium(s.chromium) as b, \
            streamlit_server(APP, work / "slider.log", env) as app, \
            streamlit_server(SLIDER_BASELINE_PAGE, work / "slider-base.log", bench_env()) as base:
        page = b.new_page(viewport=VIEWPORT)
        page.set_default_timeout(120_000)
        page.goto(app.url)
        page.wait_for_function(PLOT_DRAWN_JS, arg=TEST_POINTS, polling="raf", timeout=180_000)
        page.get_by_role("link", name="Traverse").click()
        page.wait_for_function(f"() => ({DECODED_SRC_JS})() !== null", polling=50, timeout=120_000)
        page.wait_for_load_state("networkidle")
        base_page = b.new_page(viewport=VIEWPORT)
        base_page.set_default_timeout(120_000)
        base_page.goto(base.url)
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
    report_slider(rep, app_ms, base_ms, misses, [r["ms"] for r in timing_log.read(log) if r.get("name") == "traverse.live"])


def report_slider(rep: Report, app_ms: list[float], base_ms: list[float], misses: int, server: list[float]) -> None:
    """The slider figures from the browser's round trips and the server's fragment times."""
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
