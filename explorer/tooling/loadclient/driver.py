"""The whole load: many users at once on one server (websocket sessions, a few Chromium pages,
any extra actors), its memory sampled throughout, and the report; the command line."""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

from explorer.tooling.harness import chromium_path, listening_pid, tree_rss_mb
from explorer.tooling.loadclient.browsers import browser_users
from explorer.tooling.loadclient.protocol import RERUN_TIMEOUT_S
from explorer.tooling.loadclient.sessions import Ledger, SessionReport, warm_up, websocket_user


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process and its descendants, in MiB, or None when unreadable."""
    if not pid:
        return None
    rss, _ = tree_rss_mb(pid)
    return rss or None


Actor = Callable[[str, float, random.Random, Ledger], Awaitable[SessionReport]]


def run_load(url: str, sessions: int = 20, seconds: float = 60.0, browsers: int = 3, seed: int = 0,
             pid: int | None = None, chromium: str | None = None, pages: tuple[str, ...] = (),
             warm: bool = True, actors: list[Actor] = (), on_start: Callable[[], None] | None = None,
             reconnect: bool = False, first_browser_on: str = "", think_s: float = 0.0) -> dict:
    """Drive the server at `url` with `sessions` concurrent users for about `seconds`, `browsers` of
    them real Chromium pages (0 for none), the rest websocket clients, switching among `pages`
    (page titles; default all) besides Traverse, where they move sliders. `warm` first visits
    every checkpoint on every page once, untimed. `actors` are more users: async callables taking
    (url, deadline, rng, ledger) and returning a SessionReport (e.g. one that trains). `on_start`
    is called when the timed load begins (after the warm-up). `reconnect`: a websocket user whose
    connection the server closes opens it again, as the page does (websocket_user).
    `first_browser_on`: the replica the first Chromium page starts on (behind a balancer).
    `think_s`: each websocket user's mean pause after an answer (0: at once; websocket_user).

    Returns a JSON-able report: errors, isolation problems and checks, slider round trips
    (p50/p95/max), the server's RSS (MB) cold, after warming, at peak and at the end."""
    pid = pid or listening_pid(url)
    chromium = chromium or str(chromium_path())
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
    browser_thread, browser_reports = _start_browsers(n_browsers, url, deadline, seed, chromium, pages,
                                                     first_browser_on)
    users = [websocket_user(f"ws-{i}", url, deadline, random.Random(seed * 1000 + i), ledger, i, pages, reconnect,
                            think_s)
             for i in range(sessions - n_browsers)]
    users += [actor(url, deadline, random.Random(seed * 1000 + 500 + i), ledger) for i, actor in enumerate(actors)]
    reports = asyncio.run(_together(users, lambda: rss["samples"].append(rss_mb(pid))))
    if browser_thread is not None:
        browser_thread.join(timeout=RERUN_TIMEOUT_S + 60)
    reports += browser_reports
    elapsed = time.monotonic() - started
    rss["end"] = rss_mb(pid)
    if warm_errors:
        reports.append(SessionReport("warm-up", "websocket", errors=[f"warm-up: {e}" for e in warm_errors]))
    return summarise(reports, ledger, rss, url=url, sessions=sessions, browsers=n_browsers, seconds=elapsed,
                     warm_up_s=round(warm_s, 1), checkpoints=n_checkpoints)


def _start_browsers(n: int, url: str, deadline: float, seed: int, chromium: str,
                    pages: tuple[str, ...], first_on: str = "") -> tuple[threading.Thread | None, list[SessionReport]]:
    """The Chromium users on a thread of their own (Playwright's sync API blocks); the list their
    reports land in once the thread ends."""
    reports: list[SessionReport] = []
    if not n:
        return None, reports

    def browse() -> None:
        try:
            reports.extend(browser_users([f"browser-{i}" for i in range(n)], url, deadline, seed, chromium, pages,
                                         first_on))
        except Exception as e:  # a browser that cannot start is a failed session, not a crash
            reports.append(SessionReport("browsers", "browser", errors=[f"browsers: {e}"]))

    thread = threading.Thread(target=browse, daemon=True)
    thread.start()
    return thread, reports


async def _together(users: list[Awaitable[SessionReport]], sample: Callable[[], None]) -> list[SessionReport]:
    """Run the users at once, calling `sample` every second meanwhile; a user that crashed is a
    report with that error."""
    async def every_second() -> None:
        while True:
            sample()
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(every_second())
    done = await asyncio.gather(*users, return_exceptions=True)
    sampler.cancel()
    return [r if isinstance(r, SessionReport) else
            SessionReport("?", "websocket", errors=[f"session crashed: {type(r).__name__}: {r}"]) for r in done]


def summarise(reports: list[SessionReport], ledger: Ledger, rss: dict, **meta) -> dict:
    """The JSON-able report of a load from the sessions' reports, the ledger and the RSS samples."""
    trips = sorted(t for r in reports for t in r.round_trips)
    samples = [s for s in rss.get("samples", []) if s is not None]

    def pct(q: float) -> float | None:
        return round(trips[min(len(trips) - 1, int(q * len(trips)))], 4) if trips else None

    return {
        **meta,
        "seconds": round(meta.get("seconds", 0.0), 1),
        "runs": sum(r.runs for r in reports),
        "reruns_per_s": round(sum(r.runs for r in reports) / meta["seconds"], 2) if meta.get("seconds") else None,
        # still served at the end: moved a slider and lost no connection for good
        "sessions_held": sum(r.slider_moves > 0 and not any("connection" in e for e in r.errors) for r in reports),
        "sessions_by_replica": dict(sorted(Counter(r.replica for r in reports if r.replica).items())),
        "reconnects": [f"{r.name} on {r.replica}: {c}" for r in reports for c in r.reconnects],
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
                             "errors": len(r.errors), "replica": r.replica, "replicas": r.replicas_seen,
                             "reconnects": len(r.reconnects), "runs_after_reconnect": r.runs_after_reconnect}
                            for r in reports],
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def main(argv: list[str] | None = None) -> int:
    """`python -m explorer.tooling.loadclient`: drive a running server, print the report; 1 on any error."""
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

