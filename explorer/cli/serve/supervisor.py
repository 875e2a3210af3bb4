"""The supervisor of `python -m explorer serve`: N app replicas behind HAProxy, in the foreground
until SIGINT (Ctrl-C) or SIGTERM, then every process stopped within a bound.

- The run folder (default `<cache dir>/serve/port-<P>`) holds what this run wrote: haproxy.cfg,
  haproxy.log, one log per replica (r0.log, ...) and state.json (the pids and ports now, for
  whoever needs to find a replica). Each run starts fresh logs; the run before's stay once, as
  haproxy.log.1, r0.log.1, ... (keep_previous_logs).
- Every child runs in its own process group, so a Ctrl-C in the terminal reaches the supervisor
  alone, which then stops them in order; Linux ends them too if the supervisor itself is killed
  (replicas.die_with_parent).
- A replica that stops answering its health check after it had answered (hung, SIGSTOPped), or
  that has not answered once within the start timeout (`--start-timeout`, default
  health.START_TIMEOUT_S) of its start, is SIGKILLed with its process group
  (explorer/cli/serve/health.py), and then started again like one that exited; a start killed
  for never answering counts as a quick exit, so a replica that hangs at every start is
  restarted after the growing pause, not at once.
- A replica that exits is started again on its port (HAProxy, whose health checks took it out,
  puts it back when it answers), at once the first time and after a growing pause, up to
  RESTART_PAUSE_MAX_S, while it keeps exiting within QUICK_EXIT_S of each start.
- The replicas share one cookie secret (made for this run) so any of them accepts the cookies
  another set, and one cache dir, where each map and array is computed once
  (explorer/core/diskcache.once).
"""
from __future__ import annotations

import math
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from explorer.core.atomic import write_json, write_text
from explorer.core.paths import cache_dir
from explorer.cli.serve import balancer
from explorer.cli.serve.errors import ServeError
from explorer.cli.serve.health import START_TIMEOUT_S, HealthProbe
from explorer.cli.serve.replicas import Replica, app_env, free_port, signal_group, stop_all

MAX_REPLICAS = 64
QUICK_EXIT_S = 30.0
RESTART_PAUSE_MAX_S = 30.0
POLL_S = 0.5


def default_replicas() -> int:
    """One replica per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_run_dir(port: int) -> Path:
    return cache_dir() / "serve" / f"port-{port}"


def keep_previous_logs(run_dir: Path) -> None:
    """Move the logs the run before wrote (haproxy.log, r0.log, ...) to haproxy.log.1, r0.log.1,
    ..., first removing the .1 logs of the run before that, so that every .1 log is from one run;
    with no logs to move (a first run, or one refused before it started) nothing changes. Other
    files in the folder stay."""
    def is_log(path: Path, suffix: str = "") -> bool:
        return re.fullmatch(r"(haproxy|r\d+)\.log" + re.escape(suffix), path.name) is not None

    current = [p for p in run_dir.iterdir() if is_log(p) and p.is_file()]
    if not current:
        return
    for old in run_dir.iterdir():
        if is_log(old, ".1") and old.is_file():
            old.unlink()
    for log in current:
        os.replace(log, log.with_name(log.name + ".1"))


def check_request(replicas: int, address: str, port: int, start_timeout_s: float = START_TIMEOUT_S) -> None:
    """ServeError for a replica count, port or start timeout that cannot be served, before
    anything starts."""
    if not (math.isfinite(start_timeout_s) and start_timeout_s > 0):
        raise ServeError(f"--start-timeout {start_timeout_s:g} is not a time a replica can be given to start: "
                         f"give a number of seconds above 0 (the default is {START_TIMEOUT_S:.0f})")
    if not 1 <= replicas <= MAX_REPLICAS:
        raise ServeError(f"--replicas {replicas} is out of range: give 1 to {MAX_REPLICAS} "
                         f"(the default, one per core, is {default_replicas()})")
    if not 1 <= port <= 65535:
        raise ServeError(f"--port {port} is not a TCP port: give 1 to 65535, e.g. 8501")
    with socket.socket() as s:
        # as HAProxy binds: connections of a server stopped a moment ago (TIME_WAIT) do not count,
        # another listener does
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError as e:
            raise ServeError(f"cannot listen on {address}:{port} ({e.strerror}): is another server there? "
                             f"Stop it or choose another port with --port") from None


def ready_line(address: str, port: int, replicas: int) -> str:
    """What the supervisor says once every replica is served, with the address to put on the
    projector: for 0.0.0.0 (every interface) this machine's address on its network, as no
    browser opens 0.0.0.0; for a loopback address, a word that other machines cannot reach it."""
    shown, note = address, ""
    if address in ("0.0.0.0", "::", ""):
        shown = network_address()
    elif address in ("localhost", "::1") or address.startswith("127."):
        note = " (this machine only: --address 0.0.0.0 lets a class's laptops in)"
    return f"Serving Latent Explorer on http://{shown}:{port} with {replicas} replica(s){note}. Ctrl-C stops it."


def network_address() -> str:
    """This machine's address on the network its default route leads to (a UDP socket's
    connect sends nothing), else its host name."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): only the route is looked up
            return s.getsockname()[0]
        except OSError:
            return socket.gethostname()


def serve(replicas: int, port: int, address: str = "127.0.0.1", run_dir: Path | None = None,
          say: Callable[[str], None] = print, start_timeout_s: float = START_TIMEOUT_S) -> int:
    """Serve the app on address:port with `replicas` app processes until SIGINT or SIGTERM;
    0 once stopped. A replica that has not answered within `start_timeout_s` seconds of a start
    is killed and started again. ServeError when it cannot start, or when HAProxy itself stops."""
    check_request(replicas, address, port, start_timeout_s)
    binary = balancer.haproxy_path()
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(port)
    run_dir.mkdir(parents=True, exist_ok=True)
    env = app_env({"STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32)})
    reps = [Replica(f"r{i}", free_port(), run_dir / f"r{i}.log", env) for i in range(replicas)]
    cfg = run_dir / "haproxy.cfg"
    write_text(cfg, balancer.config(address, port, [(r.name, r.port) for r in reps]), fsync=False)
    balancer.check(binary, cfg)
    keep_previous_logs(run_dir)
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    haproxy = None
    try:
        for r in reps:
            r.start()
        haproxy = balancer.start(binary, cfg, run_dir / "haproxy.log")
        url = f"http://{address}:{port}"
        say(f"Starting {replicas} replica(s) behind HAProxy on {url} (logs in {run_dir}) ...")
        probe = HealthProbe(reps, start_timeout_s=start_timeout_s)
        watch(reps, haproxy, stopping, lambda: write_state(run_dir, url, haproxy, reps), say, url, probe,
              ready_line(address, port, replicas))
    finally:
        say("Stopping the balancer and every replica ...")
        stop_all(([haproxy] if haproxy else []) + [r.proc for r in reps if r.proc])
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        (run_dir / "state.json").unlink(missing_ok=True)
    say("Stopped.")
    return 0


def watch(reps: list[Replica], haproxy: subprocess.Popen, stopping: threading.Event,
          save: Callable[[], None], say: Callable[[str], None], url: str, probe: HealthProbe,
          ready: str) -> None:
    """Until `stopping` is set: kill any replica that stopped answering or never answered since
    its start, start again any that exited, say once the balancer routes to every one;
    ServeError if HAProxy exits. `probe` is started here and stopped on the way out; `ready`
    is what it says once the balancer routes to every replica."""
    save()
    said_ready = False
    up: set[str] = set()  # the replicas the balancer has routed to, until it routes to every one
    restarts = Restarts(say)
    probe.start()
    try:
        while not stopping.wait(POLL_S):
            if haproxy.poll() is not None:
                raise ServeError(f"HAProxy exited with status {haproxy.returncode}; see haproxy.log in the run folder")
            for r in reps:
                if r.exited() is None:
                    restarts.kill_if_stuck(r, probe)
                elif restarts.due(r):
                    r.start()
                    save()
            if not said_ready:
                said_ready = announce(reps, url, up, say, ready)
    finally:
        probe.stop()


def announce(reps: list[Replica], url: str, up: set[str], say: Callable[[str], None], ready: str) -> bool:
    """Say each replica the balancer routes to as it comes, when there are several (a teacher
    starting many on a cold machine sees them come rather than one line and a wait), then
    `ready` once it routes to every one still running; whether `ready` was said."""
    for r in reps:
        if r.exited() is not None:
            up.discard(r.name)
        elif r.name not in up and balancer.routes_to(url, r.name):
            up.add(r.name)
            if len(up) < len(reps):
                say(f"Replica {r.name} is serving ({len(up)} of {len(reps)}); waiting for the others ...")
    if len(up) == len(reps):  # each asked once: a replica that exits meanwhile has left `up` above
        say(ready)
        return True
    return False


class Restarts:
    """When each exited replica starts again: at once the first time, then after a growing pause
    while it keeps exiting within QUICK_EXIT_S of its start or being killed for never answering;
    and the killing of hung and late ones."""

    def __init__(self, say: Callable[[str], None]):
        self.say = say
        self.pause: dict[str, float] = {}      # replica name -> seconds to wait before its next start
        self.restart_at: dict[str, float] = {}
        self.killed: dict[str, int] = {}       # replica name -> the start it was killed in
        self.never_answered: dict[str, int] = {}  # replica name -> the start killed as late

    def kill_if_stuck(self, r: Replica, probe: HealthProbe) -> None:
        """SIGKILL the process group of `r` if it is hung, or late and does not answer one last
        probe either (the probe thread may not have reached it yet)."""
        if self.killed.get(r.name) == r.starts:
            return
        if probe.hung(r):
            why = f"has not answered its health check {probe.failures} times in a row; killing it to start it again"
        elif probe.late(r):
            if r.healthy(probe.timeout_s):
                probe.record(r, r.starts, ok=True)  # it answers now: not late in this start
                return
            self.never_answered[r.name] = r.starts
            why = (f"has not answered its health check once in the {probe.start_timeout_s:g} s since it started "
                   f"(hung or stopped while starting); killing it to start it again. {r.log.name} in the run "
                   f"folder shows how far it got; if its starts are only slow on this machine, give them "
                   f"longer with --start-timeout SECONDS")
        else:
            return
        self.killed[r.name] = r.starts
        self.say(f"Replica {r.name} (pid {r.proc.pid}) {why}")
        signal_group(r.proc, signal.SIGKILL)  # SIGKILL ends a stopped (SIGSTOP) process too

    def due(self, r: Replica) -> bool:
        """Whether the exited replica `r` should start now (says why it exited, once)."""
        now = time.monotonic()
        if r.name not in self.restart_at:
            quick = now - r.started < QUICK_EXIT_S or self.never_answered.get(r.name) == r.starts
            self.pause[r.name] = min(RESTART_PAUSE_MAX_S, 2 * self.pause.get(r.name, 0.5)) if quick else 0.0
            self.restart_at[r.name] = now + self.pause[r.name]
            self.say(f"Replica {r.name} (pid {r.proc.pid}) exited with status {r.exited()}; starting it again"
                     + (f" in {self.pause[r.name]:.0f} s" if self.pause[r.name] else "") + f" (see {r.log.name})")
        if now < self.restart_at[r.name]:
            return False
        del self.restart_at[r.name]
        return True


def write_state(run_dir: Path, url: str, haproxy: subprocess.Popen, reps: list[Replica]) -> None:
    """state.json: this run's URL and the pids and ports of its processes now."""
    write_json(run_dir / "state.json", {
        "url": url, "supervisor": os.getpid(), "haproxy": haproxy.pid,
        "replicas": {r.name: {"pid": r.proc.pid if r.proc else None, "port": r.port, "starts": r.starts}
                     for r in reps}}, fsync=False)
