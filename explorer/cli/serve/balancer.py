"""HAProxy in front of the replicas: finding Debian's binary, the configuration, and its check.

What the configuration asks of HAProxy 2.6 and why:

- sticky sessions by cookie, not by client address (a class behind one school NAT address must
  still spread over the replicas): `cookie SERVERID insert indirect nocache` gives each browser
  the name of the replica that holds its Streamlit session, so its websocket
  (/_stcore/stream), uploads (/_stcore/upload_file, refused with 400 by any other replica) and
  media (/media/) all reach that one process, where Streamlit keeps them in memory;
- `balance leastconn`: a new browser goes to the replica with the fewest open connections,
  which with one websocket per session is the one with the fewest sessions;
- health checks on Streamlit's /_stcore/health every second; a replica that fails two is taken
  out, and `option redispatch` sends a browser whose cookie names it to another one, where
  Streamlit's own reconnect opens a fresh session (the page reloads; a slider position is lost);
  `timeout check` as long as the supervisor's own probe waits (health.TIMEOUT_S): without it a check
  gets only `inter` (1 s) to be answered, and a busy replica whose event loop waits a second or
  two for the GIL would be taken out, its sessions' media and uploads sent to a replica that
  does not hold them; a replica that died refuses the connection at once whatever this is;
- `timeout tunnel`: how long an idle websocket stays open (Streamlit's server pings it);
- haproxy.log is HAProxy's stderr and stdout together: its stderr carries its warnings and alerts
  (a replica DOWN or UP, no replica left, and before the log starts, a port it cannot bind), its
  log (`log stdout`, from the frontend) the requests that failed; the backend has `no log`, since
  HAProxy 2.6 sends each health change both to stderr and to the backend's log, which wrote each
  warning twice;
- every response says which replica answered (X-Explorer-Replica): for the tests and for anyone
  reading a browser's network panel.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

from explorer.cli.serve.errors import ServeError
from explorer.cli.serve.health import TIMEOUT_S
from explorer.cli.serve.replicas import die_with_parent

HAPROXY_ENV = "EXPLORER_HAPROXY"
COOKIE = "SERVERID"
REPLICA_HEADER = "X-Explorer-Replica"


def haproxy_path() -> Path:
    """$EXPLORER_HAPROXY, else `haproxy` on PATH, else Debian's /usr/sbin/haproxy (not on a
    user's PATH); ServeError, saying how to install it, when there is none."""
    named = os.environ.get(HAPROXY_ENV, "").strip()
    found = named or shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(found).is_file():
        raise ServeError(f"HAProxy not found at {found}: install it with 'sudo apt-get install haproxy' "
                         f"(or 'make haproxy'), or set {HAPROXY_ENV} to its binary")
    return Path(found)


def config(address: str, port: int, servers: list[tuple[str, int]]) -> str:
    """The haproxy.cfg text: one frontend on address:port, one backend of (name, port) replicas
    on 127.0.0.1."""
    lines = [
        "# Written by `python -m explorer serve` (explorer/cli/serve/balancer.py); rewritten at every start.",
        "global",
        "    maxconn 4096",
        "    log stdout format raw local0 info",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    option dontlog-normal          # only the requests that failed in haproxy.log",
        "    option redispatch              # a cookie naming a dead replica goes to a live one",
        "    retries 2",
        "    timeout connect 5s",
        "    timeout http-request 30s",
        "    timeout client 60s",
        "    timeout server 300s            # a first page run may load a model and compute a map",
        "    timeout tunnel 1h              # an open websocket (Streamlit's server pings it)",
        "    timeout client-fin 10s",
        f"    timeout check {TIMEOUT_S:g}s               # a health check's answer (a busy replica may take seconds)",
        "",
        "frontend explorer",
        f"    bind {address}:{port}",
        "    default_backend replicas",
        "",
        "backend replicas",
        "    no log                         # its health changes reach haproxy.log once, from HAProxy's stderr",
        "    balance leastconn",
        f"    cookie {COOKIE} insert indirect nocache httponly",
        "    option httpchk GET /_stcore/health",
        "    http-check expect status 200",
        f"    http-response set-header {REPLICA_HEADER} %s",
        "    default-server inter 1s fall 2 rise 1",
    ]
    lines += [f"    server {name} 127.0.0.1:{p} check cookie {name}" for name, p in servers]
    return "\n".join(lines) + "\n"


def routes_to(url: str, name: str, timeout_s: float = 2.0) -> bool:
    """Whether the balancer at `url` sends a browser whose cookie names replica `name` to that
    replica now (HAProxy marks a replica up only at its next health check after it answers)."""
    req = urllib.request.Request(url + "/_stcore/health", headers={"Cookie": f"{COOKIE}={name}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            return r.status == 200 and r.headers.get(REPLICA_HEADER) == name
    except OSError:
        return False


def check(binary: Path, cfg: Path) -> None:
    """`haproxy -c`: ServeError with HAProxy's own words when it refuses the configuration."""
    done = subprocess.run([str(binary), "-c", "-q", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise ServeError(f"HAProxy refused {cfg}: {(done.stderr or done.stdout).strip()[-800:]}")


def start(binary: Path, cfg: Path, log: Path) -> subprocess.Popen:
    """HAProxy in the foreground (-db: no daemon) as this process's child, in its own process
    group, its stderr (warnings, alerts) and stdout (its log) appended to `log`."""
    with open(log, "a") as out:
        return subprocess.Popen([str(binary), "-db", "-f", str(cfg)], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)
