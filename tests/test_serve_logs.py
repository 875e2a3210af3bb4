"""The logs in `python -m explorer serve`'s run folder: each run starts fresh ones and keeps the
run before's once (supervisor.keep_previous_logs); haproxy.log says each of HAProxy's warnings
and failed requests once (balancer.config, checked against a real HAProxy)."""
from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from helpers import health_server

from explorer.cli.serve import balancer, replicas, supervisor
from explorer.cli.serve.replicas import free_port


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(text)


def contents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir()}


def test_a_new_run_keeps_the_previous_runs_logs_once_and_starts_fresh_ones(tmp_path):
    write(tmp_path, {"haproxy.log": "last run's balancer\n", "r0.log": "last run's r0\n", "r1.log": "last run's r1\n",
                     "haproxy.log.1": "older balancer\n", "r0.log.1": "older r0\n",
                     "r3.log.1": "a replica of an older run with more of them\n",
                     "haproxy.cfg": "# config\n", "state.json": "{}", "notes.txt": "the teacher's own notes\n"})
    supervisor.keep_previous_logs(tmp_path)
    assert contents(tmp_path) == {
        "haproxy.log.1": "last run's balancer\n", "r0.log.1": "last run's r0\n", "r1.log.1": "last run's r1\n",
        "haproxy.cfg": "# config\n", "state.json": "{}", "notes.txt": "the teacher's own notes\n"}


def test_a_folder_without_new_logs_keeps_its_old_ones(tmp_path):
    # the run before was refused before it started (HAProxy refused its configuration): it wrote no
    # logs, and the ones of the run before it are still the previous run's
    write(tmp_path, {"haproxy.log.1": "balancer\n", "r0.log.1": "r0\n", "haproxy.cfg": "# config\n"})
    supervisor.keep_previous_logs(tmp_path)
    assert contents(tmp_path) == {"haproxy.log.1": "balancer\n", "r0.log.1": "r0\n", "haproxy.cfg": "# config\n"}
    supervisor.keep_previous_logs(tmp_path)  # and again: still nothing lost
    assert set(contents(tmp_path)) == {"haproxy.log.1", "r0.log.1", "haproxy.cfg"}


def wait_for_log(log: Path, text: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"{text!r} not in haproxy.log within {timeout_s:.0f} s:\n{log.read_text()}"
        time.sleep(0.2)


@pytest.mark.slow
def test_each_haproxy_warning_and_failed_request_is_written_once_to_haproxy_log(tmp_path):
    binary, log, cfg, port = balancer.haproxy_path(), tmp_path / "haproxy.log", tmp_path / "haproxy.cfg", free_port()
    with health_server() as up:
        cfg.write_text(balancer.config("127.0.0.1", port, [("r0", up.server_address[1]), ("r1", free_port())]))
        balancer.check(binary, cfg)
        haproxy = balancer.start(binary, cfg, log)  # as the supervisor starts it
        try:
            wait_for_log(log, "replicas/r1 is DOWN")  # nothing listens on r1's port
            up.shutdown()
        finally:
            up.server_close()
    try:
        wait_for_log(log, "has no server available")
        with pytest.raises(urllib.error.HTTPError, match="503"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
        wait_for_log(log, " 503 ")
    finally:
        replicas.stop_all([haproxy], grace_s=5)
    text = log.read_text()
    for once in ("replicas/r1 is DOWN", "replicas/r0 is DOWN", "has no server available", " 503 "):
        assert text.count(once) == 1, f"{once!r} is not in haproxy.log exactly once:\n{text}"
    assert "[WARNING]" in text and "[ALERT]" in text  # what HAProxy says is tagged with its level


@pytest.mark.slow
def test_a_port_haproxy_cannot_bind_is_said_in_haproxy_log(tmp_path):
    binary, log, cfg = balancer.haproxy_path(), tmp_path / "haproxy.log", tmp_path / "haproxy.cfg"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cfg.write_text(balancer.config("127.0.0.1", busy.getsockname()[1], [("r0", free_port())]))
        haproxy = balancer.start(binary, cfg, log)
        assert haproxy.wait(timeout=30) != 0
    assert "cannot bind socket" in log.read_text()  # what the supervisor's "see haproxy.log" points to
