"""Many users at once: drive a running Latent Explorer server with N concurrent sessions.

Most sessions speak Streamlit's own websocket protocol (``ws://HOST/_stcore/stream``, BackMsg and
ForwardMsg protobufs from ``streamlit.proto``), as the browser does: they open the app, pick a
VAE checkpoint in the sidebar, switch pages and move the Traverse page's latent sliders (a
fragment rerun, as the browser sends it). A few sessions are real pages in headless Chromium
(Playwright), pressing keys on a slider. Every session watches for errors (exceptions
and ``st.error`` in what the server sends back) and times each slider move from the message
sent to the end of its rerun.

State isolation is checked two ways: every full rerun of a session must show the checkpoint
that session chose (sessions choose different ones), and every slider move must decode the
same image as any other session that asked for the same checkpoint and slider values (slider
values come from a small grid, so sessions share many). The server's memory (RSS, from
/proc) is sampled throughout: models are loaded once per process, not once per session.

    python -m explorer.tooling.loadclient --url http://127.0.0.1:8501 --sessions 20 --seconds 60

`run_load` is the function behind it; `WsSession` is the protocol client, so that other actors
can be added through ``actors=``. A session that trains on a Train page, for instance::

    async def trainer(url, deadline, rng, ledger):
        report, session = SessionReport("trainer", "train"), WsSession(url)
        run = await session.connect()
        run = await session.goto("Train")
        session.click(run.widgets("button")["train_start"].id)   # the page's own widget keys
        while time.monotonic() < deadline:
            run = await session.rerun()
            report.runs += 1
            report.errors += run.errors
        await session.close()
        return report

    run_load(url, sessions=20, seconds=60, actors=[trainer])   # do the others' round trips hold?
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

RERUN_TIMEOUT_S = 120.0
SLIDER_GRID = (-2.0, -1.0, 0.0, 1.0, 2.0)  # shared by all sessions, so their questions overlap
SLIDERS_MOVED = 1                          # the first latent slider only, for the same reason
SIDEBAR = 1                                # delta_path[0] of the sidebar (RootContainer.SIDEBAR)


# ---------------------------------------------------------------- one session over the websocket

@dataclass
class Run:
    """What one rerun sent back."""

    seconds: float
    status: int
    elements: list[tuple[tuple[int, ...], str, object, str]]   # (delta_path, type, element, fragment id)
    navigation: dict[str, str]                           # page name -> page_script_hash
    errors: list[str]

    def widgets(self, kind: str) -> dict[str, object]:
        """Widget elements of one type (e.g. "slider"), by their user key (the id's suffix)."""
        return {el.id.rsplit("-", 1)[-1]: el for _, t, el, _ in self.elements if t == kind}

    def fragment_of(self, widget_id: str) -> str:
        """The fragment a widget was drawn in ("" when in none): a move of it reruns only that."""
        return next((f for _, t, el, f in self.elements if getattr(el, "id", None) == widget_id), "")

    def images(self) -> list[str]:
        return [img.url for _, t, el, _ in self.elements if t == "imgs" for img in el.imgs]

    def sidebar_text(self) -> list[str]:
        return [el.body for path, t, el, _ in self.elements if t == "markdown" and path[:1] == (SIDEBAR,)]


class WsSession:
    """One browser-less session: sends reruns with widget states, reads back what the page shows."""

    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url)
        self.http = f"{parts.scheme}://{parts.netloc}"
        scheme = "wss" if parts.scheme == "https" else "ws"
        self.ws_url = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/_stcore/stream"
        self.ws = None
        self.pages: dict[str, str] = {}
        self.page = ""                       # page_script_hash of the current page
        self.states: dict[str, WidgetState] = {}

    async def connect(self) -> Run:
        self.ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], origin=self.http,
                                           max_size=None, open_timeout=60, ping_interval=None)
        return await self.rerun()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def set_slider(self, widget_id: str, value: float) -> None:
        state = WidgetState(id=widget_id)
        state.double_array_value.data.append(float(value))
        self.states[widget_id] = state

    def set_select(self, widget_id: str, label: str) -> None:
        """A selectbox or radio, by the label it shows for the option."""
        self.states[widget_id] = WidgetState(id=widget_id, string_value=label)

    def click(self, widget_id: str) -> None:
        """A button: true for the next rerun only, as the browser sends it."""
        self.states[widget_id] = WidgetState(id=widget_id, trigger_value=True)

    def forget_triggers(self) -> None:
        self.states = {k: v for k, v in self.states.items() if v.WhichOneof("value") != "trigger_value"}

    async def goto(self, page_name: str) -> Run:
        self.page = self.pages[page_name]
        return await self.rerun()

    def rerun_message(self, fragment_id: str = "", page: str | None = None) -> bytes:
        """The browser's rerun request: every widget state, for `page` (default: the current one)
        or, with `fragment_id`, for that fragment only."""
        client = ClientState(query_string="", page_script_hash=self.page if page is None else page,
                             fragment_id=fragment_id)
        client.widget_states.widgets.extend(self.states.values())
        msg = BackMsg()
        msg.rerun_script.CopyFrom(client)
        return msg.SerializeToString()

    async def rerun(self, fragment_id: str = "") -> Run:
        """Send every widget state (as the browser does) and read until the run finishes."""
        message = self.rerun_message(fragment_id)
        self.forget_triggers()
        start = time.perf_counter()
        await self.ws.send(message)
        elements, navigation, errors = [], {}, []
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout=RERUN_TIMEOUT_S)
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            kind = fwd.WhichOneof("type")
            if kind == "script_finished":
                status = fwd.script_finished
                if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    errors.append("the script failed to compile")
                break
            if kind == "navigation":
                navigation = {p.page_name: p.page_script_hash for p in fwd.navigation.app_pages}
                self.pages = navigation or self.pages
                if not self.page:
                    self.page = fwd.navigation.page_script_hash
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                el = fwd.delta.new_element
                etype = el.WhichOneof("type")
                elements.append((tuple(fwd.metadata.delta_path), etype, getattr(el, etype), fwd.delta.fragment_id))
                if etype == "exception":
                    errors.append(f"exception: {el.exception.type}: {el.exception.message}")
                elif etype == "alert" and el.alert.format == Alert.ERROR:
                    errors.append(f"st.error: {el.alert.body[:300]}")
        return Run(time.perf_counter() - start, status, elements, navigation, errors)


# ---------------------------------------------------------------- shared bookkeeping

@dataclass
class SessionReport:
    name: str
    kind: str                                  # "websocket" | "browser" | an actor's own
    checkpoint: str = ""
    runs: int = 0
    slider_moves: int = 0
    page_switches: int = 0
    round_trips: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    isolation: list[str] = field(default_factory=list)


class Ledger:
    """What every session asked for and got, to catch one session seeing another's state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple, tuple[str, str]] = {}
        self._askers: dict[tuple, set[str]] = {}
        self.checks = 0

    @property
    def shared(self) -> int:
        """Questions asked by more than one session: the ones that can catch a leak."""
        return sum(len(who) > 1 for who in self._askers.values())

    def same_answer(self, question: tuple, answer: str, who: str) -> str | None:
        """Record an answer; a message if another session got a different one to the same question."""
        with self._lock:
            self.checks += 1
            self._askers.setdefault(question, set()).add(who)
            first = self._seen.setdefault(question, (answer, who))
            if first[0] != answer:
                return f"{who} got {answer} for {question}, but {first[1]} got {first[0]}"
        return None


async def choose_checkpoint(session: WsSession, index: int) -> tuple[str, Run | None, list[str]]:
    """Open the app, go to Traverse and pick the index-th readable VAE checkpoint in the sidebar
    (on Traverse rather than the Map page, whose first map of a model may take long to compute)."""
    runs = [await session.connect()]
    runs.append(await session.goto("Traverse"))
    box = runs[-1].widgets("selectbox").get("sb_vae")
    errors = [e for r in runs for e in r.errors]
    if box is None:
        return "", None, errors + ["the sidebar has no VAE checkpoint to choose"]
    usable = [o for o in box.options if "(unreadable)" not in o]
    label = usable[index % len(usable)]
    session.set_select(box.id, label)
    chosen = await session.rerun()
    return label, chosen, errors + chosen.errors


async def websocket_user(name: str, url: str, deadline: float, rng: random.Random, ledger: Ledger,
                         choice_index: int, pages: tuple[str, ...] = ()) -> SessionReport:
    """One user: choose a checkpoint, then until the deadline move sliders and switch pages."""
    report = SessionReport(name, "websocket")
    session = WsSession(url)
    try:
        def note(run: Run) -> Run:
            report.runs += 1
            report.errors.extend(f"{name}: {e}" for e in run.errors)
            return run

        report.checkpoint, chosen, errors = await choose_checkpoint(session, choice_index)
        report.runs += 3
        report.errors.extend(f"{name}: {e}" for e in errors)
        if chosen is None:
            return report
        expected = chosen.sidebar_text()
        others = [p for p in (pages or tuple(session.pages)) if p != "Traverse" and p in session.pages]
        run = chosen
        while time.monotonic() < deadline:
            if run.sidebar_text() != expected:
                report.isolation.append(f"{name} chose {report.checkpoint} but its page showed "
                                        f"{run.sidebar_text()} instead of {expected}")
            found = run.widgets("slider")
            sliders = [found[k] for k in sorted(found) if k.startswith("trav_z")][:SLIDERS_MOVED]
            if others and (not sliders or rng.random() < 0.15):  # switch page now and then
                run = note(await session.goto(rng.choice(others) if sliders else "Traverse"))
                report.page_switches += 1
                continue
            slider = rng.choice(sliders)
            session.set_slider(slider.id, rng.choice(SLIDER_GRID))
            move = note(await session.rerun(fragment_id=run.fragment_of(slider.id)))
            report.slider_moves += 1
            report.round_trips.append(move.seconds)
            images = move.images()
            if not images:
                report.errors.append(f"{name}: a slider move decoded no image")
                continue
            values = tuple(sorted((s.id.rsplit("-", 1)[-1], session.states[s.id].double_array_value.data[0])
                                  for s in sliders if s.id in session.states))
            problem = ledger.same_answer((report.checkpoint, values), images[0], name)
            if problem:
                report.isolation.append(problem)
    except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
        report.errors.append(f"{name}: connection failed or no answer: {type(e).__name__}: {e}")
    finally:
        await session.close()
    return report


async def warm_up(url: str, pages: tuple[str, ...] = ()) -> tuple[int, list[str]]:
    """One session visits every readable VAE checkpoint on every page once, so that the timed
    load starts with models, data and maps loaded, as a demo does. Returns (checkpoints, errors)."""
    first = WsSession(url)
    try:
        label, chosen, errors = await choose_checkpoint(first, 0)
        box = chosen.widgets("selectbox").get("sb_vae") if chosen else None
        labels = [o for o in box.options if "(unreadable)" not in o] if box else []
    finally:
        await first.close()
    for i in range(len(labels)):
        session = WsSession(url)
        try:
            _, chosen, errs = await choose_checkpoint(session, i)
            errors += errs
            for page in pages or tuple(session.pages):
                if chosen is not None and page in session.pages:
                    errors += (await session.goto(page)).errors
        finally:
            await session.close()
    return len(labels), errors


# ---------------------------------------------------------------- a few real pages in Chromium

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
ERROR_SELECTOR = '[data-testid="stException"], [data-testid="stAlertContentError"]'


def browser_users(names: list[str], url: str, deadline: float, seed: int, chromium: str,
                  titles: tuple[str, ...] = ()) -> list[SessionReport]:
    """Real pages, one browser context each (own cookies, own session), driven in turn from one
    thread: open the app, go to Traverse, press End or Home on a latent slider, switch pages."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    reports = [SessionReport(n, "browser") for n in names]
    rng = random.Random(seed)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            pages = []
            for report in reports:
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                page.set_default_timeout(RERUN_TIMEOUT_S * 1000)
                counts = _watch(page)
                page.on("pageerror", lambda e, r=report: r.errors.append(f"{r.name}: script error in the page: {str(e)[:300]}"))
                try:
                    page.goto(url)
                    page.get_by_role("link", name="Traverse").first.click()
                    _thumb(page).wait_for()
                    report.checkpoint = _caption(page)
                    report.runs += 1
                    pages.append((report, page, counts, [True]))
                except PlaywrightError as e:
                    report.errors.append(f"{report.name}: could not open the Traverse page: {e}")
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
                        _thumb(page).wait_for()
                        report.page_switches += 2
                        report.runs += 2
                    _browser_slider_move(page, counts, report, toward_end)
                    _browser_check(page, report)
                except PlaywrightError as e:
                    report.errors.append(f"{report.name}: {type(e).__name__}: {str(e)[:300]}")
                    _screenshot(page, report)
        finally:
            browser.close()
    return reports


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


def _thumb(page):
    """The first latent slider's handle on the Traverse page."""
    return page.locator('[data-testid="stSlider"]').first.get_by_role("slider")


def _watch(page) -> dict[str, int]:
    """Count the reruns a page sends and the runs it hears finish, from its websocket frames."""
    counts = {"reruns": 0, "finished": 0}

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
            ws.on("framesent", sent)
            ws.on("framereceived", received)

    page.on("websocket", opened)
    return counts


def _wait(page, done: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while not done():
        if time.monotonic() > end:
            return False
        page.wait_for_timeout(10)  # lets Playwright deliver the frame events
    return True


def _browser_slider_move(page, counts: dict[str, int], report: SessionReport, toward_end: list[bool]) -> None:
    """Press End or Home on the first latent slider, as a person would, and time it from the key
    press until the page hears that the rerun it sent has finished."""
    thumb = _thumb(page)
    thumb.wait_for()
    reruns, finished = counts["reruns"], counts["finished"]
    thumb.focus()
    start = time.perf_counter()
    page.keyboard.press("End" if toward_end[0] else "Home")
    toward_end[0] = not toward_end[0]
    if not _wait(page, lambda: counts["reruns"] > reruns, 5.0):
        return  # the slider was at that end already: nothing to send, nothing to time
    if not _wait(page, lambda: counts["finished"] > finished, RERUN_TIMEOUT_S):
        report.errors.append(f"{report.name}: a slider move got no answer within {RERUN_TIMEOUT_S:.0f} s")
        return
    report.round_trips.append(time.perf_counter() - start)
    report.slider_moves += 1
    report.runs += 1


def _caption(page) -> str:
    """The sidebar's line about the chosen checkpoint, e.g. "Plain VAE · 2-D latent space"."""
    return page.locator('[data-testid="stSidebar"] [data-testid="stCaptionContainer"]').first.inner_text().strip()


def _browser_check(page, report: SessionReport) -> None:
    for text in page.locator(ERROR_SELECTOR).all_inner_texts():
        report.errors.append(f"{report.name}: {text[:300]}")
    caption = _caption(page)
    if caption != report.checkpoint:
        report.isolation.append(f"{report.name} showed {report.checkpoint!r}, then {caption!r}")


# ---------------------------------------------------------------- the server's memory

def rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process and its children, in MB (Linux /proc), or None."""
    if not pid:
        return None
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024 if total else None


def _children(pid: int) -> list[int]:
    try:
        kids = [int(k) for t in os.listdir(f"/proc/{pid}/task")
                for k in Path(f"/proc/{pid}/task/{t}/children").read_text().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in _children(k)]


def server_pid(url: str) -> int | None:
    """The pid of the process listening on the URL's port on this machine (Linux), or None."""
    port = urllib.parse.urlsplit(url).port or 80
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            for line in Path(table).read_text().splitlines()[1:]:
                f = line.split()
                if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == "0A":  # 0A: LISTEN
                    inodes.add(f[9])
        except (OSError, IndexError, ValueError):
            continue
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}").removeprefix("socket:[").rstrip("]") in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


# ---------------------------------------------------------------- the whole load

Actor = Callable[[str, float, random.Random, Ledger], Awaitable[SessionReport]]


def run_load(url: str, sessions: int = 20, seconds: float = 60.0, browsers: int = 3, seed: int = 0,
             pid: int | None = None, chromium: str | None = None, pages: tuple[str, ...] = (),
             warm: bool = True, actors: list[Actor] = (), on_start: Callable[[], None] | None = None) -> dict:
    """Drive the server at `url` with `sessions` concurrent users for about `seconds`, `browsers` of
    them real Chromium pages (0 for none), the rest websocket clients, switching among `pages`
    (page titles; default all) besides Traverse, where they move sliders. `warm` first visits
    every checkpoint on every page once, untimed. `actors` are more users: async callables taking
    (url, deadline, rng, ledger) and returning a SessionReport (e.g. one that trains). `on_start`
    is called when the timed load begins (after the warm-up).

    Returns a JSON-able report: errors, isolation problems and checks, slider round trips
    (p50/p95/max), the server's RSS (MB) cold, after warming, at peak and at the end."""
    pid = pid or server_pid(url)
    chromium = chromium or os.environ.get("EXPLORER_CHROMIUM", "/usr/bin/chromium")
    n_browsers = min(browsers, sessions) if Path(chromium).is_file() else 0
    ledger = Ledger()
    rss = {"cold": rss_mb(pid), "samples": []}
    warm_errors, n_checkpoints, warm_s = [], 0, 0.0
    if warm:
        t0 = time.monotonic()
        n_checkpoints, warm_errors = asyncio.run(warm_up(url, pages))
        warm_s = time.monotonic() - t0
    rss["start"] = rss_mb(pid)
    if on_start is not None:
        on_start()
    started = time.monotonic()
    deadline = started + seconds
    browser_reports: list[SessionReport] = []
    browser_thread = None
    if n_browsers:
        def browse() -> None:
            try:
                browser_reports.extend(browser_users([f"browser-{i}" for i in range(n_browsers)], url, deadline,
                                                     seed, chromium, pages))
            except Exception as e:  # a browser that cannot start is a failed session, not a crash
                browser_reports.append(SessionReport("browsers", "browser", errors=[f"browsers: {e}"]))
        browser_thread = threading.Thread(target=browse, daemon=True)
        browser_thread.start()

    async def everyone() -> list[SessionReport]:
        async def sample() -> None:
            while True:
                rss["samples"].append(rss_mb(pid))
                await asyncio.sleep(1.0)

        sampler = asyncio.create_task(sample())
        users = [websocket_user(f"ws-{i}", url, deadline, random.Random(seed * 1000 + i), ledger, i, pages)
                 for i in range(sessions - n_browsers)]
        users += [actor(url, deadline, random.Random(seed * 1000 + 500 + i), ledger) for i, actor in enumerate(actors)]
        done = await asyncio.gather(*users, return_exceptions=True)
        sampler.cancel()
        return [r if isinstance(r, SessionReport) else
                SessionReport("?", "websocket", errors=[f"session crashed: {type(r).__name__}: {r}"]) for r in done]

    reports = asyncio.run(everyone())
    if browser_thread is not None:
        browser_thread.join(timeout=RERUN_TIMEOUT_S + 60)
    reports += browser_reports
    elapsed = time.monotonic() - started
    rss["end"] = rss_mb(pid)
    if warm_errors:
        reports.append(SessionReport("warm-up", "websocket", errors=[f"warm-up: {e}" for e in warm_errors]))
    return summarise(reports, ledger, rss, url=url, sessions=sessions, browsers=n_browsers, seconds=elapsed,
                     warm_up_s=round(warm_s, 1), checkpoints=n_checkpoints)


def summarise(reports: list[SessionReport], ledger: Ledger, rss: dict, **meta) -> dict:
    trips = sorted(t for r in reports for t in r.round_trips)
    samples = [s for s in rss.get("samples", []) if s is not None]

    def pct(q: float) -> float | None:
        return round(trips[min(len(trips) - 1, int(q * len(trips)))], 4) if trips else None

    return {
        **meta,
        "seconds": round(meta.get("seconds", 0.0), 1),
        "runs": sum(r.runs for r in reports),
        "slider_moves": sum(r.slider_moves for r in reports),
        "page_switches": sum(r.page_switches for r in reports),
        "round_trip_p50_s": pct(0.50),
        "round_trip_p95_s": pct(0.95),
        "round_trip_max_s": round(trips[-1], 4) if trips else None,
        "round_trip_mean_s": round(statistics.fmean(trips), 4) if trips else None,
        "errors": [e for r in reports for e in r.errors],
        "isolation_problems": [e for r in reports for e in r.isolation],
        "isolation_checks": ledger.checks,
        "isolation_shared_questions": ledger.shared,
        "checkpoints_chosen": sorted({r.checkpoint for r in reports if r.checkpoint}),
        "rss_cold_mb": _round(rss.get("cold")),
        "rss_start_mb": _round(rss.get("start")),
        "rss_peak_mb": _round(max(samples + [v for v in (rss.get("start"), rss.get("end")) if v], default=None)),
        "rss_end_mb": _round(rss.get("end")),
        "sessions_detail": [{"name": r.name, "kind": r.kind, "checkpoint": r.checkpoint, "runs": r.runs,
                             "slider_moves": r.slider_moves, "page_switches": r.page_switches,
                             "errors": len(r.errors)} for r in reports],
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m explorer.tooling.loadclient",
                                description="Drive a running Latent Explorer server with many concurrent sessions.")
    p.add_argument("--url", default="http://127.0.0.1:8501")
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--browsers", type=int, default=3, help="how many of the sessions are Chromium pages")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pages", default="", help="comma-separated page titles to switch among (default: all)")
    p.add_argument("--no-warm", action="store_true", help="start timing at once, with nothing loaded")
    p.add_argument("--pid", type=int, default=None, help="the server's pid, for its memory (default: found by port)")
    p.add_argument("--json", default=None, help="also write the full report here")
    args = p.parse_args(argv)
    if not (1 <= args.sessions <= 500) or not (1 <= args.seconds <= 3600):
        print("error: --sessions must be 1..500 and --seconds 1..3600", file=sys.stderr)
        return 2
    report = run_load(args.url, sessions=args.sessions, seconds=args.seconds, browsers=args.browsers,
                      seed=args.seed, pid=args.pid, warm=not args.no_warm,
                      pages=tuple(p.strip() for p in args.pages.split(",") if p.strip()))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    short = {k: v for k, v in report.items() if k != "sessions_detail"}
    short["errors"] = report["errors"][:10]
    short["isolation_problems"] = report["isolation_problems"][:10]
    print(json.dumps(short, indent=2))
    return 1 if report["errors"] or report["isolation_problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
