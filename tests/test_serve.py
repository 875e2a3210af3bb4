"""Serving a class (`python -m explorer serve`, explorer/cli/serve/): two replicas behind HAProxy.

The slow test runs the real thing once: sessions from one address spread over the replicas and
stick to theirs by cookie (an upload reaches the replica holding the session; the other refuses
it); a replica killed mid-session is started again while the balancer sends its users to the
other one, where the page runs cleanly; a replica that hangs (SIGSTOP) is killed and started
again by the supervisor while the other's sessions go on; and SIGTERM ends the balancer and
every replica, leaving no process behind. Another slow test has a replica stop itself during its
imports, before it ever answers: the supervisor kills it at its start timeout, starts it again
with a timeout of its own, and the balancer serves through it. The e2e test kills the replica under a real browser page, which must come
back by itself on the other. The fast tests check what is refused before anything starts."""
from __future__ import annotations

import asyncio
import json
import re
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import VIEWPORT, WAIT_MS, health_server

from explorer.cli.serve import ServeError, balancer, health, replicas, supervisor
from explorer.core.procs import pid_alive
from explorer.tooling.harness import REPO, chromium as launch_chromium, free_port, repo_env, tree_pids
from explorer.tooling.loadclient.browsers import ERROR_SELECTOR, slider_thumb, wait_until, watch_frames
from explorer.tooling.loadclient.protocol import WsSession

READY = "Serving Latent Explorer on"


def start_serving(checkpoints: Path, work: Path, args: tuple[str, ...] = (),
                  env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path, str]:
    """`serve --replicas 2` on a free port with `args` added, the replicas' environment plus `env`."""
    port, run_dir = free_port(), work / "run"
    env = repo_env({"EXPLORER_CHECKPOINTS": str(checkpoints), "EXPLORER_CHECKPOINTS_ONLY": "1",
                    "EXPLORER_CACHE_DIR": str(work / "cache"), **(env or {})})
    with open(work / "serve.log", "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "explorer", "serve", "--replicas", "2", "--port", str(port),
                                 "--run-dir", str(run_dir), *args], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    return proc, run_dir, f"http://127.0.0.1:{port}"


def wait_for(done, what: str, log: Path, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"{what} within {timeout_s:.0f} s; serve said:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def replica_state(run_dir: Path, name: str) -> dict:
    return json.loads((run_dir / "state.json").read_text())["replicas"][name]


async def sticky_sessions_and_uploads(url: str) -> tuple[WsSession, WsSession]:
    """Two sessions from one address, held open: one on each replica, each upload on its own."""
    a, b = WsSession(url), WsSession(url)
    runs = [await a.connect(), await b.connect()]
    assert not [e for r in runs for e in r.errors]
    assert {a.replica, b.replica} == {"r0", "r1"}, "two sessions from one address did not spread by cookie"
    assert await asyncio.to_thread(a.upload, "own.png", b"\x89PNG" + bytes(64)) == 204
    astray = WsSession(url)
    astray.cookies, astray.session_id = {**a.cookies, balancer.COOKIE: b.replica}, a.session_id
    assert await asyncio.to_thread(astray.upload, "astray.png", b"\x89PNG" + bytes(64)) == 400, \
        "the replica that does not hold the session accepted its upload"
    return a, b


async def kill_and_come_back(url: str, run_dir: Path, a: WsSession, b: WsSession) -> str:
    """Kill a's replica: a's browser reconnects with its cookie and gets a clean page from b's;
    b's session goes on as if nothing happened. Returns the killed replica's name."""
    dead = a.replica
    os.kill(replica_state(run_dir, dead)["pid"], signal.SIGKILL)
    await a.close()
    again = WsSession(url)
    again.cookies = dict(a.cookies)  # the browser's reconnect carries the cookie naming the dead replica
    run = await again.connect()
    assert again.replica == b.replica != dead and not run.errors and run.elements
    assert not (await b.rerun()).errors
    for s in (again, b):
        await s.close()
    return dead


@pytest.mark.slow
def test_two_replicas_stick_by_cookie_survive_a_kill_and_a_hang_and_stop_cleanly(tiny_checkpoints, tmp_path):
    proc, run_dir, url = start_serving(tiny_checkpoints, tmp_path)
    log = tmp_path / "serve.log"
    try:
        wait_for(lambda: READY in log.read_text() or proc.poll() is not None, "both replicas answered", log)
        assert proc.poll() is None, log.read_text()
        said = log.read_text()  # the first replica up is said before the others, then the ready line
        assert re.search(r"Replica r[01] is serving \(1 of 2\); waiting for the others", said), said
        assert said.index("is serving (1 of 2)") < said.index(READY) and "(2 of 2)" not in said
        dead = asyncio.run(_sessions(url, run_dir))
        wait_for(lambda: replica_state(run_dir, dead)["starts"] == 2, "the killed replica was started again", log)
        port = replica_state(run_dir, dead)["port"]
        wait_for(lambda: _answers(port), "the restarted replica answered", log)
        asyncio.run(hang_and_come_back(url, run_dir, log, hung=dead))
        everyone = tree_pids(proc.pid)
        assert len(everyone) >= 4  # the supervisor, HAProxy, two replicas
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert not [p for p in everyone if pid_alive(p)], "processes left behind after SIGTERM"
    assert "Stopped." in log.read_text()


async def hang_and_come_back(url: str, run_dir: Path, log: Path, hung: str) -> None:
    """Stop a replica that has answered (SIGSTOP: alive, answering nothing): the supervisor kills
    and restarts it, while a session on the other replica goes on without an error."""
    other = next(r for r in ("r0", "r1") if r != hung)
    c = WsSession(url)
    c.cookies = {balancer.COOKIE: other}
    assert not (await c.connect()).errors and c.replica == other
    pid, starts = replica_state(run_dir, hung)["pid"], replica_state(run_dir, hung)["starts"]
    await asyncio.sleep(2 * health.PROBE_EVERY_S + 1)  # the supervisor's probe has seen it answer since its start
    os.kill(pid, signal.SIGSTOP)
    assert not (await c.rerun()).errors
    await asyncio.to_thread(wait_for, lambda: replica_state(run_dir, hung)["starts"] > starts,
                            "the hung replica was killed and started again", log, 90)
    assert not pid_alive(pid), "the hung replica's process is still there"
    assert "has not answered its health check" in log.read_text()
    assert not (await c.rerun()).errors
    await c.close()


async def _sessions(url: str, run_dir: Path) -> str:
    a, b = await sticky_sessions_and_uploads(url)
    return await kill_and_come_back(url, run_dir, a, b)


def _answers(port: int) -> bool:
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


# Put on the replicas' PYTHONPATH as sitecustomize.py: the first replica to start stops itself
# (SIGSTOP) during its imports, before its server listens, and leaves its pid in the marker file.
HANG_AT_START = """\
import os, signal
def _hang_once():
    marker = os.environ.get("EXPLORER_TEST_HANG_MARKER", "")
    with open("/proc/self/cmdline", "rb") as f:
        if not marker or b"explorer.cli.serve.launch" not in f.read():
            return
    try:
        fd = os.open(marker + ".lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # a later start: runs as usual
    os.close(fd)
    with open(marker + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(marker + ".tmp", marker)
    os.kill(os.getpid(), signal.SIGSTOP)
_hang_once()
"""
START_TIMEOUT_S = 20  # short for the test, above a replica's start on two busy cores


@pytest.mark.slow
def test_a_replica_that_hangs_before_it_first_answers_is_killed_at_its_start_timeout_and_serves_again(
        tiny_checkpoints, tmp_path):
    hang = tmp_path / "hang"
    hang.mkdir()
    (hang / "sitecustomize.py").write_text(HANG_AT_START)
    marker = tmp_path / "hung.pid"
    proc, run_dir, url = start_serving(
        tiny_checkpoints, tmp_path, ("--start-timeout", str(START_TIMEOUT_S)),
        {"PYTHONPATH": os.pathsep.join([str(hang), str(REPO)]), "EXPLORER_TEST_HANG_MARKER": str(marker)})
    log = tmp_path / "serve.log"
    try:
        wait_for(lambda: marker.exists() and (run_dir / "state.json").exists(),
                 "a replica stopped itself while starting", log, 60)
        pid = int(marker.read_text())
        hung = next(n for n in ("r0", "r1") if replica_state(run_dir, n)["pid"] == pid)
        wait_for(lambda: READY in log.read_text() or proc.poll() is not None,
                 "the stuck replica was killed, started again and answered", log, 120)
        assert proc.poll() is None, log.read_text()
        said = log.read_text()
        assert f"Replica {hung} (pid {pid}) has not answered its health check once in the {START_TIMEOUT_S} s" in said
        assert "--start-timeout" in said and not pid_alive(pid)
        c = WsSession(url)
        c.cookies = {balancer.COOKIE: hung}
        run = asyncio.run(_connect_and_close(c))
        assert c.replica == hung and not run.errors and run.elements, "the balancer does not serve through it"
        assert replica_state(run_dir, hung)["starts"] == 2, "its second start was not given its own start timeout"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()[-3000:]


async def _connect_and_close(session: WsSession):
    run = await session.connect()
    await session.close()
    return run


def test_a_replica_count_or_port_that_cannot_be_served_is_refused_before_anything_starts():
    with pytest.raises(ServeError, match="--replicas 0"):
        supervisor.check_request(0, "127.0.0.1", 8501)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServeError, match="--port"):
            supervisor.check_request(2, "127.0.0.1", port)


def test_a_replica_is_judged_hung_only_after_it_has_answered_since_its_start(tmp_path):
    rep = replicas.Replica("r0", 9000, tmp_path / "r0.log", starts=1)
    probe = health.HealthProbe([rep], failures=3)
    for _ in range(10):  # a slow first start: no answer yet, never hung
        probe.record(rep, 1, ok=False)
    assert not probe.hung(rep)
    probe.record(rep, 1, ok=True)
    for _ in range(2):
        probe.record(rep, 1, ok=False)
    assert not probe.hung(rep)
    probe.record(rep, 1, ok=False)
    assert probe.hung(rep)
    rep.starts = 2  # started again: judged afresh
    assert not probe.hung(rep)
    probe.record(rep, 2, ok=False)
    assert not probe.hung(rep)


def test_a_start_that_never_answers_is_late_after_its_own_timeout_and_one_that_answers_never_is(tmp_path):
    rep = replicas.Replica("r0", 9000, tmp_path / "r0.log", started=1000.0, starts=1)
    unstarted = replicas.Replica("r1", 9001, tmp_path / "r1.log")
    probe = health.HealthProbe([rep, unstarted], start_timeout_s=60)
    for _ in range(10):
        probe.record(rep, 1, ok=False)
    assert not probe.late(rep, now=1059.0)  # still within its start timeout
    assert probe.late(rep, now=1061.0)
    probe.record(rep, 1, ok=True)           # it answered once: never late in this start, however long it runs
    assert not probe.late(rep, now=5000.0)
    rep.started, rep.starts = 5000.0, 2     # started again: timed from the new start, judged afresh
    assert not probe.late(rep, now=5059.0)
    assert probe.late(rep, now=5061.0)
    assert not probe.late(unstarted, now=5061.0)


def test_a_start_timeout_that_is_not_a_positive_number_of_seconds_is_refused():
    for bad in (0.0, -5.0, float("nan"), float("inf")):
        with pytest.raises(ServeError, match="--start-timeout .* give a number of seconds above 0"):
            supervisor.check_request(2, "127.0.0.1", free_port(), start_timeout_s=bad)


def test_a_late_replica_that_answers_the_last_probe_before_its_kill_is_left_running(tmp_path):
    with health_server() as server:
        rep = replicas.Replica("r0", server.server_address[1], tmp_path / "r0.log", starts=1,
                               started=time.monotonic() - 120)  # answers only now, after its start timeout
        probe = health.HealthProbe([rep], start_timeout_s=60)
        said: list[str] = []
        supervisor.Restarts(said.append).kill_if_stuck(rep, probe)
        server.shutdown()
    assert not said and not probe.late(rep), "a replica that answers was killed as late"


@pytest.mark.slow
def test_a_replica_stuck_in_its_start_is_killed_with_its_group_and_started_again_after_a_pause(tmp_path):
    said: list[str] = []
    rep = replicas.Replica("r0", free_port(), tmp_path / "r0.log", starts=1)  # nothing answers on its port
    rep.proc = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!; wait"], stdout=subprocess.PIPE,
                                start_new_session=True)
    child = int(rep.proc.stdout.readline())
    rep.started = time.monotonic() - 2 * supervisor.QUICK_EXIT_S  # starting for a minute: not a quick exit by age
    restarts = supervisor.Restarts(said.append)
    restarts.kill_if_stuck(rep, health.HealthProbe([rep], start_timeout_s=supervisor.QUICK_EXIT_S))
    assert rep.proc.wait(timeout=10) == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child), "the stuck replica's child outlived the kill of its process group"
    assert f"has not answered its health check once in the {supervisor.QUICK_EXIT_S:g} s" in said[0]
    assert "--start-timeout" in said[0]
    assert not restarts.due(rep), "a replica killed for never answering was started again at once"
    assert "starting it again in 1 s" in said[-1]


def test_a_browser_whose_session_is_gone_is_told_to_load_its_own_url_again():
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from explorer.ui import reconnect

    sent = ForwardMsg()
    sent.ParseFromString(reconnect.reload_message().SerializeToString())  # as the browser receives it
    assert sent.WhichOneof("type") == "auth_redirect" and sent.auth_redirect.url == ""


def test_the_ready_line_gives_an_address_a_student_can_open():
    everywhere = supervisor.ready_line("0.0.0.0", 8501, 2)
    assert everywhere.startswith(READY + " http://") and ":8501 " in everywhere and "0.0.0.0" not in everywhere
    assert "--address 0.0.0.0" in supervisor.ready_line("127.0.0.1", 8501, 2)  # says how to let the class in


def test_a_missing_haproxy_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv(balancer.HAPROXY_ENV, str(tmp_path / "no-haproxy"))
    with pytest.raises(ServeError, match="apt-get install haproxy"):
        balancer.haproxy_path()


def test_the_balancer_sticks_by_cookie_and_checks_health():
    cfg = balancer.config("0.0.0.0", 8501, [("r0", 9000), ("r1", 9001)])
    assert "bind 0.0.0.0:8501" in cfg
    assert f"cookie {balancer.COOKIE} insert indirect nocache" in cfg and "balance source" not in cfg
    assert "server r0 127.0.0.1:9000 check cookie r0" in cfg and "server r1 127.0.0.1:9001 check cookie r1" in cfg
    assert "option httpchk GET /_stcore/health" in cfg and "timeout tunnel" in cfg and "option redispatch" in cfg
    assert f"timeout check {health.TIMEOUT_S:g}s" in cfg  # a busy replica is not taken out after 1 s


@pytest.mark.slow
def test_a_replica_that_ignores_sigterm_is_killed_after_the_grace_period():
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time\n"
                                 "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\n"
                                 "time.sleep(120)"], stdout=subprocess.PIPE, start_new_session=True)
    assert stubborn.stdout.readline().strip() == b"ready"  # its SIGTERM handler is in place
    replicas.stop_all([stubborn], grace_s=0.5)
    assert stubborn.returncode == -signal.SIGKILL


# ---------------------------------------------------------------- a replica killed under a real browser

def open_traverse(browser, url: str, replica: str | None = None):
    """A page in its own browser context (own cookies) opened on Traverse, placed on `replica`
    by its sticky cookie when one is named (as if the balancer had put it there); (page, frame
    counts)."""
    context = browser.new_context(viewport=VIEWPORT)
    if replica:
        context.add_cookies([{"name": balancer.COOKIE, "value": replica, "url": url}])
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    counts = watch_frames(page)
    page.goto(url)
    page.get_by_role("link", name="Traverse").first.click()
    slider_thumb(page).wait_for()
    return page, counts


def page_replica(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == balancer.COOKIE)


def moves_and_answers(page, counts: dict[str, int]) -> bool:
    """Press End (then Home) on the first latent slider: True when the page hears its rerun finish."""
    finished = counts["finished"]
    for key in ("End", "Home"):
        slider_thumb(page).focus()
        page.keyboard.press(key)
        if wait_until(page, lambda: counts["finished"] > finished, 60):
            return True
    return False


def assert_working_app_page(page, who: str) -> None:
    """The app's content is there (the sidebar's checkpoint line, a slider), with no error box and
    no "Connection error" dialog."""
    assert "traverse" in page.url.lower(), f"{who} left the Traverse page: {page.url}"
    assert page.locator(ERROR_SELECTOR).count() == 0, f"{who}: {page.locator(ERROR_SELECTOR).all_inner_texts()}"
    body = page.locator("body").inner_text()
    assert "Connection error" not in body and "Plain VAE" in body, f"{who} shows: {body[:600]}"
    assert slider_thumb(page).is_visible()


@pytest.mark.slow
@pytest.mark.e2e
def test_a_browser_whose_replica_is_killed_comes_back_on_the_other_by_itself(tiny_checkpoints, chromium, tmp_path):
    proc, run_dir, url = start_serving(tiny_checkpoints, tmp_path)
    log = tmp_path / "serve.log"
    try:
        wait_for(lambda: READY in log.read_text() or proc.poll() is not None, "both replicas answered", log)
        with launch_chromium(chromium) as browser:
            victim, seen = open_traverse(browser, url)
            dead = page_replica(victim)
            other = next(r for r in ("r0", "r1") if r != dead)
            bystander, its = open_traverse(browser, url, replica=other)
            assert page_replica(bystander) == other
            finished, opened = seen["finished"], seen["opened"]
            os.kill(replica_state(run_dir, dead)["pid"], signal.SIGKILL)
            # no reload, no click: Streamlit's frontend reconnects, the balancer redispatches its
            # cookie to the live replica, and the new session runs the page the browser shows
            assert wait_until(victim, lambda: seen["opened"] > opened and seen["finished"] > finished, 90), \
                f"the page did not come back by itself: {victim.locator('body').inner_text()[:600]}"
            assert page_replica(victim) == other
            assert moves_and_answers(victim, seen), "the page came back but its slider gets no answer"
            assert_working_app_page(victim, "the page whose replica was killed")
            assert moves_and_answers(bystander, its) and its["closed"] == 0
            assert_working_app_page(bystander, "the page on the other replica")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
