"""The load's websocket users: each chooses a checkpoint, then moves Traverse sliders and switches
pages until a deadline; the ledger of answers that catches one session seeing another's state."""
from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, field

import websockets

from explorer.tooling.loadclient.protocol import Run, WsSession

SLIDER_GRID = (-2.0, -1.0, 0.0, 1.0, 2.0)  # shared by all sessions, so their questions overlap
SLIDERS_MOVED = 1                          # the first latent slider only, for the same reason
MAX_RECONNECTS = 5
RECONNECT_PAUSE_S = 0.5                    # Streamlit's page waits about this long before its first retry


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
    replica: str = ""                          # the replica its balancer cookie named first ("" without one)
    replicas_seen: list[str] = field(default_factory=list)
    reconnects: list[str] = field(default_factory=list)
    runs_at_reconnect: int = 0                 # runs counted when it last reconnected

    @property
    def runs_after_reconnect(self) -> int:
        """Runs served after its last reconnect (0 when it never reconnected)."""
        return self.runs - self.runs_at_reconnect if self.reconnects else 0


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
                         choice_index: int, pages: tuple[str, ...] = (), reconnect: bool = False,
                         think_s: float = 0.0) -> SessionReport:
    """One user: choose a checkpoint, then until the deadline move sliders and switch pages.
    `reconnect`: a websocket the server closes is opened again with the session's cookies, as
    Streamlit's page does (behind a balancer whose replica died, on another replica), noted in
    the report's `reconnects` rather than its errors. `think_s`: the mean pause after each
    answer before the next action (uniform between half and one and a half times it), as a
    person looks at the picture; 0 asks again at once (the server saturated)."""
    report = SessionReport(name, "websocket")
    cookies: dict[str, str] = {}
    while time.monotonic() < deadline:
        session = WsSession(url)
        session.cookies = cookies  # kept across reconnects, like a browser's cookie jar
        try:
            await _live(session, report, deadline, rng, ledger, choice_index, pages, think_s)
            break
        except websockets.ConnectionClosed as e:
            if not (reconnect and report.replica and len(report.reconnects) < MAX_RECONNECTS):
                report.errors.append(f"{name}: connection closed: {e}")
                break
            report.reconnects.append(f"{session.replica}: {type(e).__name__}")
            report.runs_at_reconnect = report.runs
            await asyncio.sleep(RECONNECT_PAUSE_S)
        except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
            report.errors.append(f"{name}: connection failed or no answer: {type(e).__name__}: {e}")
            break
        finally:
            await session.close()
    return report


async def _live(session: WsSession, report: SessionReport, deadline: float, rng: random.Random, ledger: Ledger,
                choice_index: int, pages: tuple[str, ...], think_s: float = 0.0) -> None:
    """One websocket's life: open the app, choose the checkpoint, then move sliders and switch
    pages until the deadline."""
    name = report.name

    def note(run: Run) -> Run:
        report.runs += 1
        report.errors.extend(f"{name}: {e}" for e in run.errors)
        return run

    report.checkpoint, chosen, errors = await choose_checkpoint(session, choice_index)
    report.replica = report.replica or session.replica
    report.replicas_seen = sorted(set(report.replicas_seen) | {session.replica} - {""})
    report.runs += 3
    report.errors.extend(f"{name}: {e}" for e in errors)
    if chosen is None:
        return
    expected = chosen.sidebar_text()
    others = [p for p in (pages or tuple(session.pages)) if p != "Traverse" and p in session.pages]
    run = chosen
    while time.monotonic() < deadline:
        if think_s > 0:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * think_s)
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
