"""The users group: many_users, N browser sessions at once on one server, driven by
explorer/tooling/loadclient/; errors, isolation, round trips, memory, and the server's own CPU
use and time per page run and per slider move."""
from __future__ import annotations

import time
from pathlib import Path

from explorer.tooling import timing_log
from explorer.tooling.bench.common import APP, Report, Settings, bench_env
from explorer.tooling.harness import process_cpu_s, streamlit_server


def bench_users(s: Settings, rep: Report, work: Path) -> None:
    """Many users at once (issue 7's load test, full form): `s.users` sessions (3 of them real
    Chromium pages, the rest clients of Streamlit's websocket protocol) move Traverse sliders and
    switch pages on one server for 60 s (15 s with --quick); errors, isolation, round trips, memory."""
    from explorer.tooling import loadclient  # websockets and Streamlit's protobufs: only when this group runs

    times = work / "timing.jsonl"
    env = bench_env({"EXPLORER_TIMING_LOG": str(times)})
    with streamlit_server(APP, work / "users.log", env) as server:
        pid = server.proc.pid
        cpu = {}

        def started() -> None:
            times.unlink(missing_ok=True)
            cpu["start"] = (process_cpu_s(pid), time.perf_counter())

        result = loadclient.run_load(server.url, sessions=s.users, seconds=15.0 if s.quick else 60.0,
                                     browsers=min(3, s.users), pid=pid, chromium=s.chromium, on_start=started)
        if "start" in cpu:  # the server process's CPU seconds per second of the timed load (2.0: both cores)
            used, t0 = cpu["start"]
            result["server_cpu_per_s"] = round((process_cpu_s(pid) - used) / (time.perf_counter() - t0), 2)
    result["server_ms"] = timing_log.server_times(timing_log.read(times))
    rep.figures["users_errors"] = len(result.get("errors", []))
    rep.figures["users_isolation_problems"] = len(result.get("isolation_problems", []))
    if result.get("round_trip_p95_s") is not None:
        rep.figures["users_roundtrip_p95_ms"] = round(1000 * result["round_trip_p95_s"], 1)
        rep.figures["users_roundtrip_p50_ms"] = round(1000 * result["round_trip_p50_s"], 1)
    rep.details["many_users"] = result
