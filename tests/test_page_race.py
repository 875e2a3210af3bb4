"""A slider moved on the page being left, just after a click to another page, must not take the
session back to the old page or blank the new one.

What happened before (seen in the 20-user load test, about once a minute under load): the
browser sends the page switch, then, while the new page runs, a slider on the old page (still
on screen) sends a rerun of its fragment, tagged with the old page. Streamlit ran that
fragment rerun as the old page: it told the browser the old page was now current (and the
browser, on the new page, cleared everything it showed), and it dropped the new page's widget
state as if the user had navigated away. The page stayed blank until another click.

Driven here over Streamlit's websocket protocol, two messages back to back, so the race is
hit every time rather than once a minute."""
from __future__ import annotations

import asyncio

import pytest

from explorer.ui.loadclient import RERUN_TIMEOUT_S, WsSession
from server_process import app_server
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from ui_fixtures import tiny_checkpoints  # noqa: F401  (fixture)


async def _switch_then_stale_fragment(url: str) -> tuple[str, list[str], list[int], WsSession]:
    s = WsSession(url)
    await s.connect()
    generate = await s.goto("Generate")
    slider_id = next(el.id for el in generate.widgets("slider").values() if el.id.rsplit("-", 1)[-1].startswith("gen_z"))
    fragment = generate.fragment_of(slider_id)
    assert fragment, "the Generate page's sliders sit in a fragment"
    generate_hash, traverse_hash = s.pages["Generate"], s.pages["Traverse"]

    def rerun(page_hash: str, fragment_id: str = "") -> bytes:
        client = ClientState(query_string="", page_script_hash=page_hash, fragment_id=fragment_id)
        client.widget_states.widgets.extend(s.states.values())
        msg = BackMsg()
        msg.rerun_script.CopyFrom(client)
        return msg.SerializeToString()

    await s.ws.send(rerun(traverse_hash))               # the click on "Traverse"
    s.set_slider(slider_id, -3.5)                       # the old page's slider, still on screen
    await s.ws.send(rerun(generate_hash, fragment))     # ... sends its fragment's rerun
    pages, finished = [], []
    while len(finished) < 2:                            # the page's run, then the fragment's
        fwd = ForwardMsg()
        fwd.ParseFromString(await asyncio.wait_for(s.ws.recv(), timeout=RERUN_TIMEOUT_S))
        kind = fwd.WhichOneof("type")
        if kind == "new_session":
            pages.append(fwd.new_session.page_script_hash)
        elif kind == "script_finished":
            finished.append(fwd.script_finished)
    return traverse_hash, pages, finished, s


@pytest.mark.e2e
def test_a_stale_fragment_rerun_after_a_page_switch_leaves_the_new_page_in_place(tiny_checkpoints, tmp_path):
    async def scenario():
        traverse_hash, pages, finished, s = await _switch_then_stale_fragment(url)
        try:
            s.page = traverse_hash
            after = await s.rerun()   # what the browser shows next: still the Traverse page
        finally:
            await s.close()
        return traverse_hash, pages, finished, after

    with app_server(tiny_checkpoints, tmp_path) as (url, _):
        traverse_hash, pages, finished, after = asyncio.run(scenario())
    # every run after the click told the browser the page is Traverse; a different hash here is
    # what made the browser clear the page
    assert pages and all(p == traverse_hash for p in pages), pages
    assert finished[0] == ForwardMsg.FINISHED_SUCCESSFULLY
    assert after.errors == []
    assert any(k.startswith("trav_z") for k in after.widgets("slider")), "the Traverse sliders are drawn"


def test_only_fragment_reruns_from_another_page_are_moved_to_the_current_page():
    from streamlit.runtime.scriptrunner_utils.script_requests import RerunData

    from explorer.ui.streamlit_fixes import install, on_current_page

    assert install() and install()  # once per process, and saying so again is harmless
    stale = RerunData(page_script_hash="old", page_name="generate", fragment_id_queue=["f1"])
    moved = on_current_page(stale, "new")
    assert (moved.page_script_hash, moved.page_name, moved.fragment_id_queue) == ("new", "", ["f1"])
    switch = RerunData(page_script_hash="new", page_name="")                  # a page switch: as it came
    assert on_current_page(switch, "old") is switch
    same = RerunData(page_script_hash="new", fragment_id_queue=["f1"])        # a fragment of this page
    assert on_current_page(same, "new") is same
    assert on_current_page(stale, "") is stale                                # before the first run


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
