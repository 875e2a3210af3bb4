"""The tooling's own parts that need no server: the page table the app and the tooling share,
the /proc reader, the timing log reader. (The server launcher and the browser are exercised by
every test that starts the app: tests/test_e2e.py, test_load.py, test_page_race.py.)"""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from explorer.tooling import harness, timing_log
from explorer.ui import navigation

PROC = Path("/proc/self/stat").exists()


def test_every_page_in_the_table_is_a_script_with_its_own_url():
    pages = navigation.PAGES
    assert [p for p in pages if p.default] == [navigation.DEFAULT] and navigation.DEFAULT.title == "Map"
    for p in pages:
        assert (harness.REPO / "explorer" / p.file).is_file(), p
        assert p.url_path == Path(p.file).stem, "the URL Streamlit gives the file; links and bookmarks keep working"
        assert p.icon.startswith(":material/") and p.icon.endswith(":")
    assert len({p.url_path for p in pages}) == len({p.title for p in pages}) == len(pages)
    assert list(navigation.sections()) == ["Explore", "Understand", "Build"]
    assert [p for ps in navigation.sections().values() for p in ps] == list(pages)


def test_the_page_table_is_plain_data_the_tooling_can_read_without_streamlit():
    import ast

    tree = ast.parse(Path(navigation.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "dataclasses"}, imported


@pytest.mark.skipif(not PROC, reason="reads Linux /proc")
def test_the_proc_reader_sees_this_process_and_its_listening_socket():
    me = os.getpid()
    assert harness.tree_pids(me)[0] == me
    rss, peak = harness.tree_rss_mb(me)
    assert 0 < rss <= peak
    assert harness.process_cpu_s(me) > 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert f"127.0.0.1:{port}" in harness.listening_addresses(me)
        assert harness.listening_pid(f"http://127.0.0.1:{port}") == me
    assert harness.process_cpu_s(2 ** 22 + 1) == 0.0  # no such process


def test_the_timing_log_reader_skips_torn_lines_and_sums_each_part(tmp_path):
    log = tmp_path / "timing.jsonl"
    assert timing_log.read(log) == []
    log.write_text('{"name": "page.map", "ms": 10.0, "cpu_ms": 8.0}\n{"name": "page.map", "ms": 30.0, "cpu'
                   '\n{"name": "traverse.live", "ms": 5.0, "cpu_ms": 4.0}\n{"name": "page.map", "ms": 20.0, "cpu_ms": 12.0}\n')
    lines = timing_log.read(log)
    assert [r["name"] for r in lines] == ["page.map", "traverse.live", "page.map"]
    times = timing_log.server_times(lines)
    assert times["page.map"] == {"n": 2, "median_ms": 15.0, "p95_ms": 20.0, "median_cpu_ms": 10.0, "cpu_s": 0.0}
    assert times["traverse.live"]["n"] == 1


def test_the_environment_puts_the_repository_first_and_keeps_the_rest(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["/somewhere", ""]))
    env = harness.repo_env({"EXTRA": "1"})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(harness.REPO), "/somewhere"]
    assert env["EXTRA"] == "1"
    assert harness.streamlit_command("app.py", 8600)[-2:] == ["--server.address", "127.0.0.1"]
    assert "--server.address" not in harness.streamlit_command("app.py", 8600, address=None)
