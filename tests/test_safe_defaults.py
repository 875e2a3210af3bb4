"""Safe by default: the server listens on this machine only, keeps XSRF protection and an upload
size limit, and neither it nor the pages it serves reach for the network.

The network check is an audit, not a mock: a `sitecustomize` module on the server's PYTHONPATH
registers an audit hook (sys.addaudithook) that logs every socket connect, sendto and address
lookup whose target is not a loopback address; Chromium records every request the pages make.
"""
from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from explorer.tooling.harness import chromium as launch_chromium
from explorer.tooling.harness import chromium_path, listening_addresses
from explorer.tooling.loadclient import WsSession
from explorer.ui import navigation
from helpers import REPO
from server_process import app_server

CONFIG = REPO / ".streamlit" / "config.toml"

AUDIT = '''
import os, sys

_LOG = os.environ.get("EXPLORER_NET_AUDIT")


def _loopback(host):
    if host in (None, "", "localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    import ipaddress
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _hook(event, args):
    if event not in ("socket.connect", "socket.sendto", "socket.getaddrinfo"):
        return
    if event == "socket.getaddrinfo":
        host = args[0]
    else:
        address = args[1]
        if not isinstance(address, tuple):  # a Unix socket path: not the network
            return
        host = address[0]
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not _loopback(host):
        with open(_LOG, "a") as f:
            f.write(f"{os.getpid()} {event} {host!r}\\n")


if _LOG:
    sys.addaudithook(_hook)
'''


@pytest.fixture
def audit(tmp_path) -> dict[str, str]:
    """Environment that makes every Python process started with it log non-loopback traffic."""
    site = tmp_path / "audit-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(AUDIT)
    log = tmp_path / "network.log"
    log.write_text("")
    return {"PYTHONPATH": os.pathsep.join([str(site), str(REPO)]), "EXPLORER_NET_AUDIT": str(log)}


def read_log(env: dict[str, str]) -> list[str]:
    return Path(env["EXPLORER_NET_AUDIT"]).read_text().splitlines()


# ---------------------------------------------------------------- the config file

def test_the_config_keeps_the_server_local_and_protected():
    server = tomllib.loads(CONFIG.read_text())["server"]
    assert server["address"] == "127.0.0.1"
    assert server["enableXsrfProtection"] is True
    assert 1 <= server["maxUploadSize"] <= 50, "uploads are MNIST-size images: a few MB is plenty"
    assert tomllib.loads(CONFIG.read_text())["browser"]["gatherUsageStats"] is False


# ---------------------------------------------------------------- the running server

def non_loopback_ip() -> str | None:
    """An address of this machine other than loopback, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # UDP connect sends nothing; it only picks the route
            ip = s.getsockname()[0]
    except OSError:
        return None
    return None if ipaddress.ip_address(ip).is_loopback else ip


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads listening sockets from Linux /proc")
def test_the_server_listens_on_localhost_only_and_reaches_for_no_network(tiny_checkpoints, tmp_path, audit):
    # No --server.address: .streamlit/config.toml decides, as with `streamlit run explorer/app.py`.
    with app_server(tiny_checkpoints, tmp_path, extra_env=audit, address=None) as (url, proc):
        listening = listening_addresses(proc.pid)
        port = int(url.rsplit(":", 1)[1])
        assert listening and all(a.startswith(("127.0.0.1:", "::1:")) for a in listening), listening
        assert f"127.0.0.1:{port}" in listening
        other = non_loopback_ip()
        if other:
            with pytest.raises(OSError):
                socket.create_connection((other, port), timeout=2).close()
        visited = asyncio.run(visit_every_page(url))
        requests = open_pages_in_chromium(url)
    assert visited == sorted(PAGES)
    assert requests, "Chromium recorded no requests at all"
    outside = [r for r in requests if not r.startswith(("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:"))]
    assert outside == [], outside
    assert read_log(audit) == [], "the server reached for the network"


async def visit_every_page(url: str) -> list[str]:
    session = WsSession(url)
    try:
        first = await session.connect()
        assert not first.errors, first.errors
        for name in list(session.pages):
            run = await session.goto(name)
            assert not run.errors, (name, run.errors)
        return sorted(session.pages)
    finally:
        await session.close()


# Every page of the app, as its navigation lists them (Map first).
PAGES = [p.title for p in navigation.PAGES]


def open_pages_in_chromium(url: str) -> list[str]:
    chromium = chromium_path()
    if not chromium.is_file():
        pytest.fail(f"Chromium not found at {chromium}; `make chromium` installs it")
    requests: list[str] = []
    with launch_chromium(chromium) as browser:
        page = browser.new_page()
        page.set_default_timeout(120_000)
        page.on("request", lambda r: requests.append(r.url))
        page.on("websocket", lambda ws: requests.append(ws.url))
        page.goto(url)
        for name in [*PAGES[1:], PAGES[0]]:
            page.get_by_role("link", name=name).first.click()
            page.wait_for_load_state("networkidle")
            page.locator('[data-testid="stSidebar"]').wait_for()
    return requests


# ---------------------------------------------------------------- the command line, and the audit itself

@pytest.mark.slow
def test_the_cli_reaches_for_no_network_and_the_audit_would_see_it(tmp_path, audit):
    env = {**os.environ, **audit, "EXPLORER_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "samples.npy"
    proc = subprocess.run([sys.executable, "-m", "explorer", "sample", "--checkpoint",
                           str(REPO / "checkpoints" / "digits" / "vae-8d"), "--n", "4", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()
    assert read_log(audit) == [], "sampling from a checkpoint reached for the network"

    # The audit has teeth: a connection to a documentation address (TEST-NET-1) is logged.
    probe = ("import socket\ns = socket.socket()\ns.settimeout(0.2)\ntry:\n    s.connect(('192.0.2.1', 80))\n"
             "except OSError:\n    pass\nsocket.getaddrinfo('example.invalid', 80) if False else None\n")
    subprocess.run([sys.executable, "-c", probe], env=env, timeout=60, check=True)
    assert [line.split(" ", 1)[1] for line in read_log(audit)] == ["socket.connect '192.0.2.1'"]


def test_the_streamlit_fixes_leave_another_streamlit_version_alone(monkeypatch, caplog):
    """explorer/ui/streamlit_fixes.py wraps private methods of the Streamlit it was written for;
    any other version is left as it is, with a log line saying why."""
    import streamlit
    from streamlit.runtime.app_session import AppSession
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.runtime.scriptrunner_utils.script_requests import ScriptRequests
    from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext

    from explorer.ui import streamlit_fixes

    before = (script_runner.ScriptRunner._run_script, ScriptRunContext.reset, AppSession._clear_queue,
              ScriptRequests._request_rerun_locked, script_runner.ScriptRunner._on_script_finished)
    monkeypatch.setattr(streamlit, "__version__", "1.68.0")
    with caplog.at_level("WARNING", logger=streamlit_fixes.__name__):
        assert streamlit_fixes.install() is False
    assert "written for Streamlit 1.67.0, this is 1.68.0" in caplog.text
    assert (script_runner.ScriptRunner._run_script, ScriptRunContext.reset, AppSession._clear_queue,
            ScriptRequests._request_rerun_locked, script_runner.ScriptRunner._on_script_finished) == before
