"""A slider moved on the page being left, just after a click to another page, or right after
the new page was drawn, must not take the session back to the old page or blank the new one.
The races and their fixes are described in explorer/ui/streamlit_fixes.py; here they are
driven over Streamlit's websocket protocol, two messages back to back, so they are hit every
time rather than once a minute under load."""
from __future__ import annotations

import asyncio
import contextlib

import pytest

from explorer.tooling.loadclient import RERUN_TIMEOUT_S, WsSession
from server_process import app_server
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

QUIET_S = 3.0  # no message for this long after a page's run: nothing more is coming


@contextlib.asynccontextmanager
async def _session(url: str):
    """A websocket session on the app, connected (its first run done) and closed afterwards."""
    s = WsSession(url)
    await s.connect()
    try:
        yield s
    finally:
        await s.close()


def _slider_fragment(run, prefix: str) -> tuple[str, str]:
    """(a slider's widget id, its fragment) among a page's sliders whose key starts with `prefix`."""
    slider_id = next(el.id for key, el in run.widgets("slider").items() if key.startswith(prefix))
    fragment = run.fragment_of(slider_id)
    assert fragment, f"the {prefix} sliders sit in a fragment"
    return slider_id, fragment


async def _runs_after(s: WsSession, *steps: bytes | str) -> list[tuple[str, list[str], list[tuple[int, ...]], int]]:
    """Send the messages among `steps` in order, back to back, except that a page hash among them
    holds the messages after it until a run of that page has started; each run that follows as
    (its page, the fragments it reran, the paths of the main-area elements it drew, how it
    finished), until the server goes quiet."""
    pending = list(steps)

    async def send_until_a_wait():
        while pending and isinstance(pending[0], bytes):
            await s.ws.send(pending.pop(0))

    await send_until_a_wait()
    runs, current = [], None
    while True:
        quiet = runs and current is None and not pending
        try:
            raw = await asyncio.wait_for(s.ws.recv(), timeout=QUIET_S if quiet else RERUN_TIMEOUT_S)
        except asyncio.TimeoutError:
            assert not pending, f"no run of page {pending[0]} started: {runs}"
            return runs
        fwd = ForwardMsg()
        fwd.ParseFromString(raw)
        kind = fwd.WhichOneof("type")
        if kind == "new_session":
            current = [fwd.new_session.page_script_hash, list(fwd.metadata.run.fragment_ids), [], None]
            if pending and pending[0] == current[0]:
                pending.pop(0)
                await send_until_a_wait()
        elif kind == "delta" and current is not None and fwd.metadata.delta_path[:1] == [0]:
            current[2].append(tuple(fwd.metadata.delta_path))
        elif kind == "script_finished" and current is not None:
            current[3] = fwd.script_finished
            runs.append(tuple(current))
            current = None


def _no_holes(paths: list[tuple[int, ...]]) -> bool:
    """Every top-level element of the main area comes after the one before it: the browser,
    drawing a page from scratch, can't place element 4 before element 3."""
    seen = -1
    for p in paths:
        if len(p) >= 2:
            if p[1] > seen + 1:
                return False
            seen = max(seen, p[1])
    return True


@pytest.mark.e2e
def test_a_slider_moved_on_the_page_being_left_leaves_the_new_page_in_place(tiny_checkpoints, tmp_path):
    """Race 1: the fragment rerun comes tagged with the page being left."""
    async def scenario():
        async with _session(url) as s:
            generate = await s.goto("Generate")
            slider_id, fragment = _slider_fragment(generate, "gen_z")
            traverse = s.pages["Traverse"]
            click = s.rerun_message(page=traverse)       # the click on "Traverse"
            s.set_slider(slider_id, -3.5)                # the old page's slider, still on screen
            runs = await _runs_after(s, click, s.rerun_message(fragment))  # tagged with Generate
            s.page = traverse
            after = await s.rerun()                      # what the browser shows next
            return traverse, runs, after

    with app_server(tiny_checkpoints, tmp_path) as (url, _):
        traverse, runs, after = asyncio.run(scenario())
    assert len(runs) == 2, f"the race was not reached: {runs}"
    # every run told the browser the page is Traverse (another hash made it clear the page), and
    # the second is the whole page again, not a fragment's part of it
    assert [(page, fragments) for page, fragments, _, _ in runs] == [(traverse, []), (traverse, [])], runs
    # (a page's run whose messages had not all left when the next began is reported "finished
    # early": Streamlit's own bookkeeping for back-to-back runs)
    assert [finished for *_, finished in runs][-1] == ForwardMsg.FINISHED_SUCCESSFULLY, runs
    assert after.errors == []
    assert any(k.startswith("trav_z") for k in after.widgets("slider")), "the Traverse sliders are drawn"


@pytest.mark.e2e
def test_a_slider_moved_while_the_new_page_is_drawn_redraws_the_whole_page(tiny_checkpoints, tmp_path):
    """Races 2 and 3: on Traverse, a click to Generate and straight back, and a Traverse slider
    moved meanwhile: its fragment rerun waits behind the page's run that changed the page. Each
    message goes once the run it must meet has started, so Streamlit can't fold them into one
    run before the race (it does, under load, when they arrive together)."""
    async def scenario():
        async with _session(url) as s:
            traverse_run = await s.goto("Traverse")
            slider_id, fragment = _slider_fragment(traverse_run, "trav_z")
            generate = s.pages["Generate"]
            away, back = s.rerun_message(page=generate), s.rerun_message()
            s.set_slider(slider_id, 1.5)
            return s.page, await _runs_after(s, away, generate, back, s.page, s.rerun_message(fragment))

    with app_server(tiny_checkpoints, tmp_path) as (url, _):
        traverse, runs = asyncio.run(scenario())
    on_traverse = [r for r in runs if r[0] == traverse]
    assert len(on_traverse) == 2, f"the race was not reached: {runs}"
    # the slider's rerun ran as the whole page, after the page's own run, and every element of
    # the page came in order
    assert all(fragments == [] for _, fragments, _, _ in runs), runs
    assert runs[-1][0] == traverse and runs[-1][3] == ForwardMsg.FINISHED_SUCCESSFULLY, runs
    assert all(_no_holes(paths) for _, _, paths, _ in runs), runs


def test_only_fragment_reruns_from_another_page_or_after_a_page_change_become_full_runs():
    from streamlit.runtime.scriptrunner_utils.script_requests import RerunData

    from explorer.ui.streamlit_fixes import install, rerun_to_run

    assert install() and install()  # once per process, and saying so again is harmless
    stale = RerunData(page_script_hash="old", page_name="generate", fragment_id_queue=["f1"])
    full = rerun_to_run(stale, "new", page_just_changed=False)
    assert (full.page_script_hash, full.page_name, full.fragment_id_queue) == ("new", "", [])
    same = RerunData(page_script_hash="new", fragment_id_queue=["f1"])         # a fragment of this page
    assert rerun_to_run(same, "new", page_just_changed=False) is same
    assert rerun_to_run(same, "new", page_just_changed=True).fragment_id_queue == []  # queued behind a page change
    switch = RerunData(page_script_hash="new", page_name="")                   # a page switch: as it came
    assert rerun_to_run(switch, "old", page_just_changed=True) is switch
    assert rerun_to_run(stale, "", page_just_changed=False) is stale           # before the thread's first run


def test_a_slider_moved_on_the_page_being_left_while_the_switch_waits_keeps_the_switch():
    """Race 4: the click to Traverse waits to start (its runner not yet running) and a Generate
    slider's rerun is folded into it; the one run that follows must be Traverse's. Upstream
    makes it a full run of Generate: the session goes back to the page being left."""
    from streamlit.runtime.scriptrunner_utils.script_requests import RerunData, ScriptRequests

    from explorer.ui.streamlit_fixes import install

    assert install()
    requests = ScriptRequests()
    requests.request_rerun(RerunData(page_script_hash="traverse", query_string="t=1"))
    requests.request_rerun(RerunData(page_script_hash="generate", query_string="g=2", fragment_id="gen_sliders"))
    run = requests.on_scriptrunner_ready().rerun_data
    assert (run.page_script_hash, run.query_string, run.fragment_id_queue) == ("traverse", "t=1", [])

    same = ScriptRequests()                                   # a fragment of the page that reruns
    same.request_rerun(RerunData(page_script_hash="traverse", query_string="t=1"))
    same.request_rerun(RerunData(page_script_hash="traverse", query_string="t=2", fragment_id="trav_sliders"))
    run = same.on_scriptrunner_ready().rerun_data
    assert (run.page_script_hash, run.query_string, run.fragment_id_queue) == ("traverse", "t=2", [])

    fragments = ScriptRequests()                              # two fragments: Streamlit's own folding
    fragments.request_rerun(RerunData(page_script_hash="traverse", fragment_id="a"))
    fragments.request_rerun(RerunData(page_script_hash="traverse", fragment_id="b"))
    assert fragments.on_scriptrunner_ready().rerun_data.fragment_id_queue == ["a", "b"]


class _Session:
    """What AppSession._clear_queue uses of a session: its queue of messages for the browser."""

    def __init__(self):
        from streamlit.runtime.forward_msg_queue import ForwardMsgQueue
        self._browser_queue = ForwardMsgQueue()


def _element(path: tuple[int, ...], text: str, fragment: str = "") -> ForwardMsg:
    msg = ForwardMsg()
    msg.metadata.delta_path[:] = path
    msg.delta.new_element.markdown.body = text
    if fragment:
        msg.delta.fragment_id = fragment
    return msg


def test_a_fragment_run_starting_keeps_the_page_run_elements_still_queued():
    """The second race: a fragment's run started while the page's run was still queued for the
    browser used to drop the fragment's queued elements, leaving a hole the browser can't draw
    past ("Bad delta path index 4 (should be between [0, 3])"): a blank page."""
    from streamlit.runtime.app_session import AppSession

    from explorer.ui.streamlit_fixes import install

    assert install()
    session = _Session()
    for i, fragment in enumerate(["", "", "", "live", ""]):   # the page's run: element 3 is a fragment's
        session._browser_queue.enqueue(_element((0, i), f"page {i}", fragment))
    AppSession._clear_queue(session, ["live"])              # the fragment's own run starts
    session._browser_queue.enqueue(_element((0, 3), "fragment again", "live"))
    sent = [(tuple(m.metadata.delta_path), m.delta.new_element.markdown.body) for m in session._browser_queue.flush()]
    assert [p for p, _ in sent][:5] == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4)], sent  # no hole
    assert sent[-1] == ((0, 3), "fragment again"), sent  # and the fragment's new picture comes last

    full = _Session()                                        # a page's run still clears what it replaces
    full._browser_queue.enqueue(_element((0, 0), "old run"))
    AppSession._clear_queue(full, None)
    assert full._browser_queue.flush() == []


def test_a_page_change_counts_while_its_run_goes_on_and_briefly_after_and_never_for_a_fragment_run():
    """Streamlit chains runs inside one call (st.switch_page from a fragment) and starts a new
    ScriptRunner for every full rerun: runs are noted per session as they start and end, so a
    page change made either way counts; a run stopped for the next one ends late and is ignored."""
    from explorer.ui.streamlit_fixes import SETTLE_S, PageRuns

    runs = PageRuns()
    first = runs.started(None, "traverse")          # the session's first full run: where from is unknown
    assert runs.just_changed(now=100.0)              # while it goes on
    runs.ended(first, now=100.0)
    assert runs.just_changed(now=100.0 + SETTLE_S / 2)
    assert not runs.just_changed(now=100.0 + SETTLE_S * 2)  # the browser has had the page by then
    runs.started(["live"], "traverse")               # a fragment's run: the page stays as it was
    assert runs.changed
    runs.started(None, "traverse")                   # the same page again
    assert not runs.changed and not runs.just_changed(now=200.0)
    generate = runs.started(None, "generate")        # a click to Generate ...
    back = runs.started(None, "traverse")            # ... and straight back, on a new runner
    runs.ended(generate, now=300.0)                  # the stopped run's end comes after: ignored
    assert runs.just_changed(now=300.0 + SETTLE_S * 10)
    runs.ended(back, now=301.0)
    assert runs.just_changed(now=301.0) and not runs.just_changed(now=301.0 + SETTLE_S * 2)
    runs.started(["panel"], "traverse")              # a fragment's run ...
    runs.started(None, "map")                        # ... that switched page: the chained full run
    assert runs.changed
