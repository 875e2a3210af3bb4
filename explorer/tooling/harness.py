"""The one harness for driving the real app from outside: used by the bench, the load client,
the tests that start a server, and scripts/screenshots.py.

- a server: `streamlit run <script>` on a free port of 127.0.0.1, in its own process group, waited
  for until it answers, and stopped (the whole group) within a bounded time;
- a browser: Debian's headless Chromium through Playwright (/usr/bin/chromium, or
  $EXPLORER_CHROMIUM; Playwright's own browser download is not used), with the one list of flags;
- the JavaScript snippets that say what a page has drawn;
- readers of Linux /proc for a process tree's pids, memory and CPU time and listening sockets
  (parsing /proc/<pid>/stat with explorer/core/procs.stat_fields, the one parser of it).
"""
from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# the one command line, environment and port choice, shared with the product's `serve`
from explorer.cli.serve.replicas import app_env as repo_env, free_port, streamlit_command  # noqa: F401
from explorer.core.procs import stat_fields

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "explorer" / "app.py"
STOP_TIMEOUT_S = 15.0  # SIGTERM, then this long for Streamlit to shut down, then SIGKILL


# ---------------------------------------------------------------- processes from the repository

@dataclass
class Server:
    """A running `streamlit run`: its URL, process (the leader of its own process group), log
    file and the perf_counter() reading taken just before it was started."""

    url: str
    proc: subprocess.Popen
    log: Path
    started: float

    def wait_until_up(self, timeout_s: float = 120.0) -> None:
        """Return once /_stcore/health answers 200; RuntimeError, with the log's tail, if the
        server exits or does not answer within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with status {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer on {self.url} within {timeout_s:.0f} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def stop(proc: subprocess.Popen, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Stop a process started by `streamlit_server` and everything in its process group (a
    training run it started, say): SIGTERM, then SIGKILL after `timeout_s`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout_s)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


@contextlib.contextmanager
def streamlit_server(script: Path | str = APP, log: Path | None = None, env: dict[str, str] | None = None,
                     address: str | None = "127.0.0.1", wait_s: float | None = 120.0) -> Iterator[Server]:
    """`streamlit run script` (default: the app) on a free port, from the repository root, with
    its output in `log`; waits until it answers (unless `wait_s` is None) and always stops it.
    `env` is the whole environment (default: `repo_env()`)."""
    port = free_port()
    log = Path(log) if log is not None else Path(os.devnull)
    with open(log, "w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(streamlit_command(script, port, address), cwd=REPO, env=env or repo_env(),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", proc, log, started)
    try:
        if wait_s is not None:
            server.wait_until_up(wait_s)
        yield server
    finally:
        stop(proc)


# ---------------------------------------------------------------- the browser

CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage")  # many pages at once outgrow a container's small /dev/shm
VIEWPORT = {"width": 1280, "height": 800}


def chromium_path() -> Path:
    """The Chromium binary: $EXPLORER_CHROMIUM, else Debian's /usr/bin/chromium."""
    return Path(os.environ.get("EXPLORER_CHROMIUM", "/usr/bin/chromium"))


@contextlib.contextmanager
def chromium(path: Path | str | None = None):
    """A headless Chromium (Playwright's Browser) with CHROMIUM_ARGS; always closed.
    RuntimeError, saying how to get one, when the binary is missing."""
    from playwright.sync_api import sync_playwright

    path = Path(path) if path is not None else chromium_path()
    if not path.is_file():
        raise RuntimeError(f"Chromium not found at {path}; install it (make chromium) or set EXPLORER_CHROMIUM")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(path), headless=True, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


# ---------------------------------------------------------------- what a page has drawn (JavaScript)

# Every plotly figure on the page, the Map's chart first (it lives in a same-origin iframe, a
# Streamlit component: explorer/ui/mapchart), each with the offset of its document on the page.
_PLOTS = """const plots = () => {
  const out = [];
  for (const f of document.querySelectorAll('iframe')) {
    let doc = null;
    try { doc = f.contentDocument; } catch (e) { continue; }
    if (!doc) continue;
    const r = f.getBoundingClientRect();
    for (const gd of doc.querySelectorAll('.js-plotly-plot')) out.push({gd: gd, dx: r.left, dy: r.top});
  }
  for (const gd of document.querySelectorAll('.js-plotly-plot')) out.push({gd: gd, dx: 0, dy: 0});
  return out;
};
"""

# A plotly figure is laid out and holds data.
PLOT_SHOWN_JS = """() => {
""" + _PLOTS + """
  const p = plots()[0];
  return !!(p && p.gd._fullLayout && p.gd._fullData && p.gd._fullData.length > 0);
}"""

# A plotly figure is laid out, holds at least `n` points and has drawn them.
PLOT_DRAWN_JS = """(n) => {
""" + _PLOTS + """
  for (const {gd} of plots()) {
    if (!gd._fullLayout || !gd._fullData) continue;
    let k = 0;
    for (const t of gd._fullData) if (t.x && t.visible !== false) k += t.x.length;
    if (k >= n && gd.querySelector('canvas, .scatterlayer .point')) return true;
  }
  return false;
}"""

# The Map page's chart: a Streamlit component, in an iframe titled by its name (explorer/ui/mapchart).
MAP_FRAME = 'iframe[title="explorer.ui.mapchart.map"]'

# The map's plotly element (the first figure on the page) as a JS expression.
MAP_JS = "(() => {" + _PLOTS + " const p = plots()[0]; return p ? p.gd : null; })()"

# The screen position (and customdata index) of the point at fraction `at` (default: the middle) of
# the plotly map's biggest trace of indexed points; it also starts counting the map's draws from
# now on (plotly_afterplot on this map element; DRAWS_JS reads the count).
POINT_JS = """(at) => {
""" + _PLOTS + """
  const {gd, dx, dy} = plots()[0];
  window.__map = gd; window.__draws = 0;
  gd.on('plotly_afterplot', () => { window.__draws += 1; });
  const fl = gd._fullLayout;
  const tr = gd._fullData.filter(t => t.visible !== false && t.customdata && t.x && t.x.length > 0
                                      && Number(t.customdata[0]) >= 0)
                         .sort((a, b) => b.x.length - a.x.length)[0];
  const box = gd.getBoundingClientRect();
  const i = Math.floor(tr.x.length * (at === undefined || at === null ? 0.5 : at));
  return {x: dx + box.left + fl._size.l + fl.xaxis.l2p(Number(tr.x[i])),
          y: dy + box.top + fl._size.t + fl.yaxis.l2p(Number(tr.y[i])), index: Number(tr.customdata[i])};
}"""
# the map's draws since POINT_JS, a replaced map element counting as one
DRAWS_JS = "() => window.__draws + (" + MAP_JS + " === window.__map ? 0 : 1)"


# ---------------------------------------------------------------- Linux /proc

def tree_pids(root: int) -> list[int]:
    """`root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int(stat_fields(d.name)[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_rss_mb(root: int) -> tuple[float, float]:
    """(current RSS, sum of each process's peak RSS) of a process tree, MiB, from /proc/<pid>/status."""
    rss = hwm = 0
    for pid in tree_pids(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm += int(line.split()[1])
        except OSError:
            continue
    return rss / 1024, hwm / 1024


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of one process so far, 0.0 when unreadable."""
    try:
        fields = stat_fields(pid)
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class TreeCpu:
    """CPU seconds spent by the process trees under `roots` between start() and stop(),
    sampled every `every_s` seconds from a thread (a process born meanwhile counts from 0; one
    that ends between samples keeps its last reading); a machine's busy cores from /proc/stat.
    A process in the trees of two roots counts for the first root named (e.g. the server, a
    child of the load generator's process)."""

    def __init__(self, roots: dict[str, int], every_s: float = 1.0):
        self.roots, self.every_s = roots, every_s
        self._first: dict[int, float] = {}
        self._last: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "TreeCpu":
        self._sample(first=True)
        self._t0, self._busy0 = time.monotonic(), _busy_s()
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """{name: cores used on average, ..., "machine": busy cores of the whole machine, "seconds": wall}."""
        self._stop.set()
        self._thread.join()
        self._sample()
        wall = max(1e-9, time.monotonic() - self._t0)
        used = {name: 0.0 for name in self.roots}
        for (name, pid), cpu in self._last.items():
            used[name] += cpu - self._first.get(pid, 0.0)
        out = {name: round(v / wall, 2) for name, v in used.items()}
        return {**out, "machine": round((_busy_s() - self._busy0) / wall, 2), "seconds": round(wall, 1)}

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def _sample(self, first: bool = False) -> None:
        claimed: set[int] = set()
        for name, root in self.roots.items():
            for pid in set(tree_pids(root)) - claimed:
                claimed.add(pid)
                cpu = process_cpu_s(pid)
                if first:
                    self._first[pid] = cpu
                if cpu:
                    self._last[(name, pid)] = cpu


def _busy_s() -> float:
    """CPU seconds the whole machine has been busy (all but idle and iowait), from /proc/stat."""
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    return (sum(f) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")


def _listening() -> Iterator[tuple[str, str, int]]:
    """(socket inode, local ip, port) of every listening TCP socket, from /proc/net/tcp{,6}."""
    for table, family in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10 or f[3] != "0A":  # 0A: LISTEN
                continue
            hex_ip, hex_port = f[1].split(":")
            raw = bytes.fromhex(hex_ip)  # little-endian 32-bit words
            if family == 4:
                ip = ipaddress.IPv4Address(raw[::-1])
            else:
                ip = ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
            yield f[9], str(ip), int(hex_port, 16)


def _socket_inodes(pid: int | str) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    return inodes


def listening_addresses(pid: int) -> set[str]:
    """The local addresses one process listens on, e.g. {"127.0.0.1:8501"}."""
    mine = _socket_inodes(pid)
    return {f"{ip}:{port}" for inode, ip, port in _listening() if inode in mine}


def listening_pid(url: str) -> int | None:
    """The pid of the process on this machine listening on the URL's port, or None."""
    port = urllib.parse.urlsplit(url).port or 80
    inodes = {inode for inode, _, p in _listening() if p == port}
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if _socket_inodes(pid) & inodes:
                return int(pid)
        except OSError:
            continue
    return None
