"""Many users at once on the real server: the short form of the load test (the full form, 20
sessions for 60 s, is `python -m explorer.tooling.loadclient --sessions 20 --seconds 60`).

Six concurrent sessions for about 15 s, one of them a Chromium page, the others speaking
Streamlit's websocket protocol: none sees an error, none sees another's state, and the server's
memory grows by a bounded amount (models and data are shared, not loaded per session). No
timing is asserted here; the figures are measured by the bench.
"""
from __future__ import annotations

import json
import os

import pytest

from explorer.tooling.loadclient import Ledger, run_load
from helpers import ARTIFACTS
from server_process import app_server

RSS_GROWTH_LIMIT_MB = 400  # six sessions; a model, test set and encodings per session would exceed it


def test_the_ledger_catches_two_sessions_given_different_answers():
    ledger = Ledger()
    assert ledger.same_answer(("vae-2d", (("trav_z0", 1.0),)), "/media/a.png", "ws-0") is None
    assert ledger.same_answer(("vae-2d", (("trav_z0", 1.0),)), "/media/a.png", "ws-1") is None
    problem = ledger.same_answer(("vae-2d", (("trav_z0", 1.0),)), "/media/b.png", "ws-2")
    assert problem and "ws-2" in problem and "ws-0" in problem
    assert ledger.shared == 1 and ledger.checks == 3


@pytest.mark.e2e
@pytest.mark.slow
def test_six_sessions_at_once_see_no_errors_and_only_their_own_state(tiny_checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_LOAD_SHOTS", str(ARTIFACTS / "load-shots"))  # a browser's error, as it looked
    with app_server(tiny_checkpoints, tmp_path) as (url, proc):
        # Interpolate and Generate besides Traverse: the Map page's first UMAP of a tiny model
        # compiles numba for a long while, which is the bench's business, not this test's.
        report = run_load(url, sessions=6, seconds=15, browsers=1, seed=7, pid=proc.pid,
                          pages=("Traverse", "Interpolate", "Generate"))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load-short.json").write_text(json.dumps(report, indent=2) + "\n")
    assert report["errors"] == []
    assert report["isolation_problems"] == []
    assert report["browsers"] == 1 and any(s["kind"] == "browser" and s["slider_moves"] > 0
                                           for s in report["sessions_detail"]), report["sessions_detail"]
    ws = [s for s in report["sessions_detail"] if s["kind"] == "websocket"]
    assert len(ws) == 5 and all(s["slider_moves"] > 0 for s in ws), ws
    assert sum(s["page_switches"] for s in ws) > 0, ws
    assert len({s["checkpoint"] for s in ws}) >= 2, "the sessions chose different checkpoints"
    assert report["isolation_shared_questions"] > 0, "no two sessions asked the same question: the check had no teeth"
    assert report["round_trip_p95_s"] is not None
    if report["rss_start_mb"] is not None and os.path.isdir("/proc"):
        assert report["rss_end_mb"] - report["rss_start_mb"] < RSS_GROWTH_LIMIT_MB, report
