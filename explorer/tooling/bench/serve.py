"""The serve group: a class on `python -m explorer serve` (replicas behind HAProxy), driven by
explorer/tooling/loadclient/ through the balancer: for 1 replica and for one per core, sessions
held, errors, isolation, slider round trips and reruns served per second; then one replica killed
halfway through a run, its sessions coming back on another, the others' errors counted apart;
and how long each replica's health check takes to answer under the load.
The timed runs ask again as soon as an answer comes (the server saturated: reruns per second is
its capacity, and a round trip is mostly waiting in line); one more run at one replica per core
pauses about a second after each answer, as a student looking at the picture would."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from explorer.cli.serve import default_replicas
from explorer.tooling.bench.common import Report, Settings, bench_env
from explorer.tooling.harness import REPO, TreeCpu, free_port

READY = "Serving Latent Explorer on"
CLASS_THINK_S = 1.0  # mean pause after each answer in the class-paced run
START_TIMEOUT_S = 180.0


@contextlib.contextmanager
def serving(replicas: int, work: Path) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """`python -m explorer serve` with the shipped checkpoints: (url, process, run folder) once
    every replica answers; stopped with SIGTERM (as Ctrl-C would) afterwards."""
    work.mkdir(parents=True, exist_ok=True)
    port, run_dir, log = free_port(), work / "run", work / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "explorer", "serve", "--replicas", str(replicas), "--port",
                                 str(port), "--run-dir", str(run_dir)], cwd=REPO, env=bench_env(), stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while READY not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {log.read_text()[-1500:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", proc, run_dir
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)


def replicas_state(run_dir: Path) -> dict[str, dict]:
    return json.loads((run_dir / "state.json").read_text())["replicas"]


def warm_each(run_dir: Path) -> list[str]:
    """Every replica, straight on its own port, opens every checkpoint on every page once (the
    balancer would send one warming session to one replica only): models loaded in each
    process, maps and codes computed once into the shared cache."""
    from explorer.tooling.loadclient.sessions import warm_up

    errors = []
    for name, r in replicas_state(run_dir).items():
        errors += [f"warm-up of {name}: {e}" for e in asyncio.run(warm_up(f"http://127.0.0.1:{r['port']}"))[1]]
    return errors


class HealthTimes:
    """Each replica's /_stcore/health asked straight on its port every `every_s` from a thread,
    as the supervisor's probe does (explorer/cli/serve/health.py: 3 misses of 5 s in a row kill
    a replica): how long the answers take under the load, so the margin to a false kill of a
    busy replica is a figure, not a hope."""

    def __init__(self, run_dir: Path, every_s: float = 0.5, timeout_s: float = 10.0):
        self.ports = {n: r["port"] for n, r in replicas_state(run_dir).items()}
        self.every_s, self.timeout_s = every_s, timeout_s
        self.ms: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-health")

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        import urllib.request
        while not self._stop.wait(self.every_s):
            for port in self.ports.values():
                t0 = time.perf_counter()
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=self.timeout_s):
                        self.ms.append(1000 * (time.perf_counter() - t0))
                except OSError:  # a replica killed on purpose (the kill run) counts apart
                    self.failures += 1

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(timeout=self.timeout_s + 1)
        ms = sorted(self.ms)
        pick = (lambda q: round(ms[min(len(ms) - 1, int(q * len(ms)))], 1)) if ms else (lambda q: None)
        return {"answers": len(ms), "failures": self.failures, "p50_ms": pick(0.5), "p95_ms": pick(0.95),
                "max_ms": round(ms[-1], 1) if ms else None}


def one_load(s: Settings, replicas: int, work: Path, kill_after_s: float | None = None, think_s: float = 0.0) -> dict:
    """One timed load through the balancer; with `kill_after_s`, replica r0 is killed (SIGKILL)
    that long into it (the first Chromium page starts there), the websocket users reconnect as
    the page does, and the Chromium pages come back by themselves."""
    from explorer.tooling import loadclient

    seconds = 15.0 if s.quick else 60.0
    with serving(replicas, work) as (url, proc, run_dir):
        warm_errors = warm_each(run_dir)
        killer = None
        if kill_after_s is not None:
            pid = replicas_state(run_dir)["r0"]["pid"]
            killer = threading.Timer(kill_after_s, lambda: os.kill(pid, signal.SIGKILL))
        meter = TreeCpu({"server": proc.pid, "load_generator": os.getpid()})
        health = HealthTimes(run_dir)
        result = loadclient.run_load(url, sessions=s.serve_sessions, seconds=seconds, pid=proc.pid, warm=False,
                                     browsers=min(3, s.serve_sessions), chromium=s.chromium,
                                     on_start=lambda: (meter.start(), health.start(), killer and killer.start()),
                                     reconnect=killer is not None, first_browser_on="r0" if killer else "",
                                     think_s=think_s)
        result["cpu_cores"] = meter.stop()  # average cores used during the timed load, and the machine's
        result["health"] = health.stop()
        result["restarts"] = {n: r["starts"] - 1 for n, r in replicas_state(run_dir).items()}
    result["errors"] = [f"warm-up: {e}" for e in warm_errors] + result["errors"]
    return result


def bench_serve(s: Settings, rep: Report, work: Path) -> None:
    """1 replica, then one per core (when more than one), then the kill-a-replica run."""
    counts = sorted({1, default_replicas()})
    rep.figures["serve_sessions"] = s.serve_sessions
    held, errors, isolation = [], 0, 0
    for n in counts:
        result = one_load(s, n, work / f"replicas-{n}")
        rep.details[f"serve_{n}_replicas"] = result
        held.append(result["sessions_held"])
        errors += len(result["errors"])
        isolation += len(result["isolation_problems"])
        for key, name in (("sessions_held", "sessions_held"), ("reruns_per_s", "reruns_per_s")):
            rep.figures[f"serve_r{n}_{name}"] = result[key]
        rep.figures[f"serve_r{n}_errors"] = len(result["errors"])
        rep.figures[f"serve_r{n}_isolation_problems"] = len(result["isolation_problems"])
        for part, cores in result["cpu_cores"].items():
            if part != "seconds":
                rep.figures[f"serve_r{n}_cpu_cores_{part}"] = cores
        for q in ("p95", "max"):  # a replica's health check under the load (3 misses of 5 s kill it)
            rep.figures[f"serve_r{n}_health_{q}_ms"] = result["health"][f"{q}_ms"]
        for q in ("p50", "p95"):
            v = result[f"round_trip_{q}_s"]
            rep.figures[f"serve_r{n}_roundtrip_{q}_ms"] = None if v is None else round(1000 * v, 1)
    rep.figures["serve_sessions_held"] = min(held)
    rep.figures["serve_errors"] = errors
    rep.figures["serve_isolation_problems"] = isolation
    rep.figures["serve_roundtrip_p95_ms"] = rep.figures[f"serve_r{counts[-1]}_roundtrip_p95_ms"]
    class_run(s, rep, work, counts[-1])
    kill_run(s, rep, work, counts[-1])


def class_run(s: Settings, rep: Report, work: Path, replicas: int) -> None:
    """The same sessions, each pausing CLASS_THINK_S on average after an answer (a student looks
    at the picture before moving again), on one replica per core: the round trips a class sees
    when the server is busy but not saturated (the runs above ask again at once)."""
    result = one_load(s, replicas, work / "class", think_s=CLASS_THINK_S)
    rep.details["serve_class"] = result
    rep.figures["serve_class_think_s"] = CLASS_THINK_S
    rep.figures["serve_class_errors"] = len(result["errors"]) + len(result["isolation_problems"])
    rep.figures["serve_class_reruns_per_s"] = result["reruns_per_s"]
    for q in ("p50", "p95"):
        v = result[f"round_trip_{q}_s"]
        rep.figures[f"serve_class_roundtrip_{q}_ms"] = None if v is None else round(1000 * v, 1)


def kill_run(s: Settings, rep: Report, work: Path, replicas: int) -> None:
    """Kill r0 halfway: the figures are the sessions it held, how many came back (served again
    after reconnecting; how many of those on another replica), and the errors of every other
    session (target 0)."""
    if replicas < 2:
        rep.skipped["serve_kill_errors_others"] = "one core: no second replica to come back on"
        return
    result = one_load(s, replicas, work / "kill", kill_after_s=(15.0 if s.quick else 60.0) / 2)
    rep.details["serve_kill"] = result
    detail = result["sessions_detail"]
    on_r0 = [d for d in detail if d["replica"] == "r0"]
    rep.figures["serve_kill_sessions_on_killed"] = len(on_r0)
    # back: reconnected and served again, on the other replica or on r0 restarted (the balancer's
    # cookie names r0, so a page that reconnects once r0 answers again goes back there)
    back = [d for d in on_r0 if d["reconnects"] > 0 and d["runs_after_reconnect"] > 0]
    rep.figures["serve_kill_came_back"] = len(back)
    rep.figures["serve_kill_came_back_on_other"] = sum(len(d["replicas"]) > 1 for d in back)
    rep.figures["serve_kill_errors_others"] = sum(d["errors"] for d in detail if d["replica"] != "r0")
    rep.figures["serve_kill_errors_killed"] = sum(d["errors"] for d in on_r0)
    rep.figures["serve_kill_restarted"] = result["restarts"].get("r0", 0)
