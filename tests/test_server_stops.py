"""A server that stops: SIGTERM to the server process alone (not the process group the harness
kills after its grace period) ends `streamlit run` within explorer/ui/shutdown.py's grace period,
under load and when its shutdown cannot finish; and a second SIGTERM ends it at once."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from explorer.tooling.harness import PLOT_SHOWN_JS, VIEWPORT, repo_env, streamlit_server
from explorer.tooling.harness import chromium as launch_chromium
from explorer.tooling.loadclient.protocol import WsSession
from explorer.ui import shutdown
from helpers import WAIT_MS
from server_process import app_server

SCHEDULING_S = 30.0  # on top of a grace period: time for a loaded machine to run the exit


def exit_status(proc: subprocess.Popen, within_s: float) -> int | None:
    """The process's exit status, or None if it is still running after `within_s` seconds."""
    try:
        return proc.wait(timeout=within_s)
    except subprocess.TimeoutExpired:
        return None


@contextmanager
def cpu_burner() -> Iterator[None]:
    """One process spinning on a core for as long as the block runs: the load under which the
    server was seen not to stop."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
@pytest.mark.e2e
def test_sigterm_ends_the_app_under_load_with_a_browser_on_the_map(chromium, tiny_checkpoints, tmp_path):
    with cpu_burner(), app_server(tiny_checkpoints, tmp_path) as (url, proc):
        with launch_chromium(chromium) as browser:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url)
            page.wait_for_function(PLOT_SHOWN_JS, timeout=WAIT_MS)
            os.kill(proc.pid, signal.SIGTERM)  # the browser still connected, a core busy
            status = exit_status(proc, shutdown.GRACE_S + SCHEDULING_S)
        assert status is not None, "the server was still running after SIGTERM"


# A script whose shutdown cannot finish: a non-daemon thread that never ends keeps the
# interpreter waiting at exit, as a stuck connection keeps uvicorn waiting in Streamlit 1.67.
STUCK_APP = """
import threading, time
import streamlit as st
from explorer.ui import shutdown
shutdown.install(grace_s={grace})
if not any(t.name == "stuck" for t in threading.enumerate()):
    threading.Thread(target=time.sleep, args=(3600,), name="stuck", daemon=False).start()
st.write("up")
"""


@contextmanager
def stuck_server(tmp_path: Path, grace_s: float):
    """`streamlit run` of STUCK_APP, its script run once by a browser-less session."""
    script = tmp_path / "stuck_app.py"
    script.write_text(STUCK_APP.format(grace=grace_s))
    with streamlit_server(script, log=tmp_path / "stuck.log", env=repo_env({"EXPLORER_CACHE_DIR": str(tmp_path)}),
                          wait_s=90) as server:
        asyncio.run(run_once(server.url))
        yield server


async def run_once(url: str) -> None:
    session = WsSession(url)
    try:
        await session.connect()
    finally:
        await session.close()


@pytest.mark.slow
def test_a_shutdown_that_cannot_finish_ends_after_the_grace_period(tmp_path):
    with cpu_burner(), stuck_server(tmp_path, grace_s=2.0) as server:
        os.kill(server.proc.pid, signal.SIGTERM)
        status = exit_status(server.proc, 2.0 + SCHEDULING_S)
        assert status == 128 + signal.SIGTERM, server.log_tail()
        assert "Stopping now: the server had not stopped" in server.log_tail()


@pytest.mark.slow
def test_a_second_sigterm_ends_the_server_at_once(tmp_path):
    with stuck_server(tmp_path, grace_s=3600.0) as server:
        os.kill(server.proc.pid, signal.SIGTERM)
        assert exit_status(server.proc, 3.0) is None  # stuck: the grace period is an hour
        os.kill(server.proc.pid, signal.SIGTERM)
        status = exit_status(server.proc, SCHEDULING_S)
        assert status == 128 + signal.SIGTERM, server.log_tail()
        assert "a second signal" in server.log_tail()
