"""A few of the load's users as real pages in headless Chromium (Playwright): each opens the app,
goes to Traverse, presses End or Home on a latent slider and now and then switches pages; a
move is timed from the key press until the page hears its rerun finish."""
from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from explorer.tooling import harness
from explorer.tooling.loadclient.protocol import RERUN_TIMEOUT_S, STICKY_COOKIE
from explorer.tooling.loadclient.sessions import SessionReport

ERROR_SELECTOR = '[data-testid="stException"], [data-testid="stAlertContentError"]'


def browser_users(names: list[str], url: str, deadline: float, seed: int, chromium: str,
                  titles: tuple[str, ...] = (), first_on: str = "") -> list[SessionReport]:
    """Real pages, one browser context each (own cookies, own session), driven in turn from one
    thread: open the app, go to Traverse, press End or Home on a latent slider, switch pages.
    `first_on`: the replica the first page starts on (its sticky cookie set, as if the balancer
    had put it there), e.g. the one a kill run will kill."""
    from playwright.sync_api import Error as PlaywrightError

    reports = [SessionReport(n, "browser") for n in names]
    rng = random.Random(seed)
    with harness.chromium(chromium) as browser:
        pages = _open_traverse(browser, reports, url, first_on)
        # every page moves its slider at least once, even on a machine too busy to do it in time
        while pages and (time.monotonic() < deadline or
                         (time.monotonic() < deadline + 60 and any(r.slider_moves == 0 for r, *_ in pages))):
            idle = [entry for entry in pages if entry[0].slider_moves == 0]
            report, page, counts, toward_end = rng.choice(idle if time.monotonic() >= deadline and idle else pages)
            try:
                if rng.random() < 0.15:
                    target = rng.choice([t for t in titles or ("Map", "Interpolate", "Generate")
                                         if t != "Traverse"] or ["Traverse"])
                    page.get_by_role("link", name=target).first.click()
                    page.get_by_role("link", name=target).first.wait_for()
                    page.wait_for_timeout(300)
                    page.get_by_role("link", name="Traverse").first.click()
                    slider_thumb(page).wait_for()
                    report.page_switches += 2
                    report.runs += 2
                _browser_slider_move(page, counts, report, toward_end)
                _browser_check(page, report, counts)
            except PlaywrightError as e:
                report.errors.append(f"{report.name}: {type(e).__name__}: {str(e)[:300]}")
                _screenshot(page, report)
    return reports


def _open_traverse(browser, reports: list[SessionReport], url: str, first_on: str = "") -> list[tuple]:
    """One context and page per report, opened on Traverse: (report, page, frame counts, [toward
    the end]) for each that opened; an error in its report for each that did not."""
    from playwright.sync_api import Error as PlaywrightError

    pages = []
    for report in reports:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        if first_on and report is reports[0]:
            context.add_cookies([{"name": STICKY_COOKIE, "value": first_on, "url": url}])
        page = context.new_page()
        page.set_default_timeout(RERUN_TIMEOUT_S * 1000)
        counts = watch_frames(page)
        page.on("pageerror", lambda e, r=report: r.errors.append(f"{r.name}: script error in the page: {str(e)[:300]}"))
        try:
            page.goto(url)
            report.replica = _replica(page)  # where it opened, before a kill can move it
            report.replicas_seen.append(report.replica)
            page.get_by_role("link", name="Traverse").first.click()
            slider_thumb(page).wait_for()
            report.checkpoint = _caption(page)
            report.runs += 1
            pages.append((report, page, counts, [True]))
        except PlaywrightError as e:
            report.errors.append(f"{report.name}: could not open the Traverse page: {e}")
    return pages


def _screenshot(page, report: SessionReport) -> None:
    """What the page showed when something went wrong, into $EXPLORER_LOAD_SHOTS (when set)."""
    where = os.environ.get("EXPLORER_LOAD_SHOTS")
    if not where:
        return
    from playwright.sync_api import Error as PlaywrightError
    try:
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / f"{report.name}-{len(report.errors)}.png"), timeout=10_000)
    except (OSError, PlaywrightError):
        pass  # the picture is a help for whoever reads the report, not part of it


def slider_thumb(page):
    """The first latent slider's handle on the Traverse page."""
    return page.locator('[data-testid="stSlider"]').first.get_by_role("slider")


def watch_frames(page) -> dict[str, int]:
    """Count the reruns a page sends and the runs it hears finish, from its websocket frames."""
    counts = {"reruns": 0, "finished": 0, "opened": 0, "closed": 0}

    def sent(payload) -> None:
        if isinstance(payload, (bytes, bytearray)):
            msg = BackMsg()
            msg.ParseFromString(bytes(payload))
            counts["reruns"] += msg.WhichOneof("type") == "rerun_script"

    def received(payload) -> None:
        if isinstance(payload, (bytes, bytearray)):
            msg = ForwardMsg()
            msg.ParseFromString(bytes(payload))
            counts["finished"] += msg.WhichOneof("type") == "script_finished"

    def opened(ws) -> None:
        if ws.url.endswith("/_stcore/stream"):
            counts["opened"] += 1
            ws.on("close", lambda _ws: counts.update(closed=counts["closed"] + 1))
            ws.on("framesent", sent)
            ws.on("framereceived", received)

    page.on("websocket", opened)
    return counts


def wait_until(page, done: Callable[[], bool], seconds: float) -> bool:
    """Whether `done()` came true within `seconds`, Playwright's events delivered meanwhile."""
    end = time.monotonic() + seconds
    while not done():
        if time.monotonic() > end:
            return False
        page.wait_for_timeout(10)  # lets Playwright deliver the frame events
    return True


def _browser_slider_move(page, counts: dict[str, int], report: SessionReport, toward_end: list[bool]) -> None:
    """Press End or Home on the first latent slider, as a person would, and time it from the key
    press until the page hears that the rerun it sent has finished."""
    thumb = slider_thumb(page)
    thumb.wait_for()
    reruns, finished = counts["reruns"], counts["finished"]
    thumb.focus()
    start = time.perf_counter()
    page.keyboard.press("End" if toward_end[0] else "Home")
    toward_end[0] = not toward_end[0]
    if not wait_until(page, lambda: counts["reruns"] > reruns, 5.0):
        return  # the slider was at that end already: nothing to send, nothing to time
    if not wait_until(page, lambda: counts["finished"] > finished, RERUN_TIMEOUT_S):
        report.errors.append(f"{report.name}: a slider move got no answer within {RERUN_TIMEOUT_S:.0f} s")
        return
    report.round_trips.append(time.perf_counter() - start)
    report.slider_moves += 1
    report.runs += 1


def _caption(page) -> str:
    """The sidebar's line about the chosen checkpoint, e.g. "Plain VAE · 2-D latent space"."""
    return page.locator('[data-testid="stSidebar"] [data-testid="stCaptionContainer"]').first.inner_text().strip()


def _replica(page) -> str:
    """The replica the page's balancer cookie names now ("" without a balancer)."""
    return next((c["value"] for c in page.context.cookies() if c["name"] == STICKY_COOKIE), "")


def _browser_check(page, report: SessionReport, counts: dict[str, int]) -> None:
    """Errors shown, the checkpoint still the page's own, and where it is now: a page whose
    replica died reconnects (or reloads) by itself, on another replica."""
    now = _replica(page)
    if now and now not in report.replicas_seen:
        report.replicas_seen.append(now)
    while len(report.reconnects) < counts["opened"] - 1:
        report.reconnects.append(f"its websocket opened again (now on {now or 'the server'})")
        report.runs_at_reconnect = report.runs
    for text in page.locator(ERROR_SELECTOR).all_inner_texts():
        report.errors.append(f"{report.name}: {text[:300]}")
    caption = _caption(page)
    if caption != report.checkpoint:
        report.isolation.append(f"{report.name} showed {report.checkpoint!r}, then {caption!r}")
