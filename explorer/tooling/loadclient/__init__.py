"""Many users at once: drive a running Latent Explorer server with N concurrent sessions.

Most sessions speak Streamlit's own websocket protocol (``ws://HOST/_stcore/stream``, BackMsg and
ForwardMsg protobufs from ``streamlit.proto``), as the browser does: they open the app, pick a
VAE checkpoint in the sidebar, switch pages and move the Traverse page's latent sliders (a
fragment rerun, as the browser sends it). A few sessions are real pages in headless Chromium
(Playwright), pressing keys on a slider. Every session watches for errors (exceptions
and ``st.error`` in what the server sends back) and times each slider move from the message
sent to the end of its rerun.

State isolation is checked two ways: every full rerun of a session must show the checkpoint
that session chose (sessions choose different ones), and every slider move must decode the
same image as any other session that asked for the same checkpoint and slider values (slider
values come from a small grid, so sessions share many). The server's memory (RSS, from
/proc) is sampled throughout: models are loaded once per process, not once per session.

    python -m explorer.tooling.loadclient --url http://127.0.0.1:8501 --sessions 20 --seconds 60

`run_load` (driver.py) is the function behind it; `WsSession` (protocol.py) is the protocol client, so that other actors
can be added through ``actors=``. A session that trains on a Train page, for instance::

    async def trainer(url, deadline, rng, ledger):
        report, session = SessionReport("trainer", "train"), WsSession(url)
        run = await session.connect()
        run = await session.goto("Train")
        session.click(run.widgets("button")["train_start"].id)   # the page's own widget keys
        while time.monotonic() < deadline:
            run = await session.rerun()
            report.runs += 1
            report.errors += run.errors
        await session.close()
        return report

    run_load(url, sessions=20, seconds=60, actors=[trainer])   # do the others' round trips hold?

The parts: protocol.py speaks Streamlit's websocket protocol; sessions.py holds the websocket
users and the ledger; browsers.py the Chromium pages; driver.py runs them all and reports.
"""
from __future__ import annotations

from explorer.tooling.loadclient.driver import main, rss_mb, run_load, summarise
from explorer.tooling.loadclient.protocol import RERUN_TIMEOUT_S, Run, WsSession
from explorer.tooling.loadclient.sessions import Ledger, SessionReport

__all__ = ["RERUN_TIMEOUT_S", "Ledger", "Run", "SessionReport", "WsSession", "main", "rss_mb", "run_load",
           "summarise"]
