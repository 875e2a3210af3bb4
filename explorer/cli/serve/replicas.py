"""One app replica: `streamlit run explorer/app.py` on a port of 127.0.0.1, in its own process
group, with its output in a log file; asked whether it answers, and stopped within a bound.

The command line here is the one way to start the app's server: the tooling's harness
(explorer/tooling/harness.py) starts its test and bench servers with it too.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]   # Streamlit reads .streamlit/config.toml from its cwd: here
APP = REPO / "explorer" / "app.py"
STOP_GRACE_S = 12.0  # after SIGTERM; above the app's own bound (explorer/ui/shutdown.py, 8 s), then SIGKILL
HEALTH = "/_stcore/health"


LAUNCH = "explorer.cli.serve.launch"  # `python -m streamlit` with reconnect.install() done first


def streamlit_command(script: Path | str, port: int, address: str | None = "127.0.0.1",
                      module: str = "streamlit") -> list[str]:
    """The one command line: headless, no file watcher, no usage statistics. `address=None`
    leaves --server.address out, so .streamlit/config.toml decides. `module`: LAUNCH for a
    replica behind the balancer."""
    cmd = [sys.executable, "-m", module, "run", str(script), "--server.port", str(port),
           "--server.headless", "true", "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    if address is not None:
        cmd += ["--server.address", address]
    return cmd


def app_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the repository first on PYTHONPATH, plus `extra`."""
    path = [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path), **(extra or {})}


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port of `address` that nothing listens on now."""
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """In the child, before exec: Linux sends it SIGTERM when the supervisor dies, even by
    SIGKILL, so no replica outlives it (prctl PR_SET_PDEATHSIG; nothing elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


@dataclass
class Replica:
    """One app process behind the balancer: its name (the balancer's server name and the
    sticky cookie's value), port, log, and the process while it runs."""

    name: str
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    started: float = 0.0     # time.monotonic() of the last start
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or start again) the app on this replica's port, appending to its log after a
        line that says which start follows (where a hung start's log ends is where it hung)."""
        with open(self.log, "a") as out:
            out.write(f"--- {self.name}: start {self.starts + 1}, {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            out.flush()
            self.proc = subprocess.Popen(streamlit_command(APP, self.port, module=LAUNCH), cwd=REPO, env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=die_with_parent)
        self.started, self.starts = time.monotonic(), self.starts + 1

    def exited(self) -> int | None:
        """The exit status once the process has ended (None while it runs or before it started)."""
        return None if self.proc is None else self.proc.poll()

    def healthy(self, timeout_s: float = 2.0) -> bool:
        """Whether the app answers its health check now."""
        try:
            with urllib.request.urlopen(self.url + HEALTH, timeout=timeout_s) as r:
                return r.status == 200
        except OSError:
            return False


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send `sig` to a child's process group (the app and anything it started, a training run)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def stop_all(procs: list[subprocess.Popen], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every process group, wait up to `grace_s` seconds for all of them together, then
    SIGKILL the groups still there; every child is reaped."""
    for proc in procs:
        signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for proc in procs:
        signal_group(proc, signal.SIGKILL)  # also any grandchild left in the group after its leader exited
        proc.wait()
