"""Fixes for two races in Streamlit (1.67) that blanked a page in front of the audience.

The race: a user clicks another page; before the new page's run reaches the browser, the old
page is still on screen, and a slider there is moved (by a person, or by a test driving the
first slider it finds). The browser sends the page switch, then a rerun of that slider's
fragment, tagged with the page it came from. Streamlit queues the fragment rerun behind the
new page's run and then runs it *as the old page*: it switches the session back to the old
page (dropping the new page's widget state), skips the fragment (gone with the old page), and
tells the browser the old page is current, which makes the browser clear every element of the
new page. The main area stays blank until the next click. Seen about once a minute in the
20-user load test; `tests/test_page_race.py` drives it every time over the websocket.

The fix: a rerun that only reruns fragments never changes the page. It runs on the page the
session is on; a fragment that is not on that page is then skipped, as Streamlit already does
for fragments that no longer exist. Full reruns (page switches, widget changes outside
fragments, st.rerun, st.switch_page) are untouched.

The second race follows from the first, or from any fragment rerun queued behind a page's
run: when the fragment's run starts, Streamlit drops that fragment's messages still waiting
to be sent, including the ones the page's run just wrote. On a busy server they have not left
yet; the browser, drawing the new page from scratch, then gets element 4 of the page with no
element 3 and stops ("Bad delta path index 4 (should be between [0, 3])"), leaving the page
blank. The fix: a fragment's run keeps what is already queued (the browser draws it, then the
fragment's run draws over it); only the bookkeeping that merges messages is reset, so the
fragment's own messages follow the queued ones instead of replacing them in place. The cost
is a few messages sent twice when a fragment reruns before its last picture left.

Both wrap private methods (ScriptRunner._run_script, whose argument is a RerunData with
`fragment_id_queue` and `page_script_hash`; AppSession._clear_queue(fragment_ids_this_run)).
If a later Streamlit changes them, `install` leaves Streamlit alone and logs why instead of
breaking the app.
"""
from __future__ import annotations

import dataclasses
import logging

_LOG = logging.getLogger(__name__)
_MARK = "_explorer_fragment_keeps_page"


def install() -> bool:
    """Wrap ScriptRunner._run_script once per process; True when the fix is in place."""
    try:
        from streamlit.runtime.scriptrunner import script_runner
        from streamlit.runtime.scriptrunner_utils.script_requests import RerunData
    except ImportError as e:  # a Streamlit without these modules: leave it as it is
        _LOG.warning("Streamlit fragment page fix not installed: %s", e)
        return False
    try:
        from streamlit.runtime.app_session import AppSession
    except ImportError as e:
        _LOG.warning("Streamlit fragment page fix not installed: %s", e)
        return False
    runner = script_runner.ScriptRunner
    if getattr(runner, _MARK, False):
        return True
    fields = {f.name for f in dataclasses.fields(RerunData)}
    run_script = getattr(runner, "_run_script", None)
    clear_queue = getattr(AppSession, "_clear_queue", None)
    if (run_script is None or clear_queue is None
            or not {"fragment_id_queue", "page_script_hash", "page_name"} <= fields):
        _LOG.warning("Streamlit fragment page fix not installed: ScriptRunner, AppSession or RerunData changed")
        return False

    def _run_script(self, rerun_data):  # type: ignore[no-untyped-def]
        return run_script(self, on_current_page(rerun_data, _current_page(self)))

    def _clear_queue(self, fragment_ids_this_run=None):  # type: ignore[no-untyped-def]
        # A fragment run's clear with no fragment named: every queued message stays (it is
        # still treated as a fragment run's clear: a page run's "finished" is kept as it is).
        return clear_queue(self, [] if fragment_ids_this_run else fragment_ids_this_run)

    _run_script.__wrapped__ = run_script  # type: ignore[attr-defined]
    _clear_queue.__wrapped__ = clear_queue  # type: ignore[attr-defined]
    runner._run_script = _run_script
    AppSession._clear_queue = _clear_queue
    setattr(runner, _MARK, True)
    return True


def on_current_page(rerun_data, current_page: str):  # type: ignore[no-untyped-def]
    """The rerun to run: a fragments-only rerun tagged with another page is moved to the current
    one; anything else as it came."""
    if (not rerun_data.fragment_id_queue or not current_page
            or rerun_data.page_script_hash in ("", current_page)):
        return rerun_data
    return dataclasses.replace(rerun_data, page_script_hash=current_page, page_name="")


def _current_page(runner) -> str:  # type: ignore[no-untyped-def]
    """The page the session last ran ("" before its first run)."""
    try:
        return runner._get_script_run_ctx().page_script_hash or ""
    except Exception:  # noqa: BLE001  no context yet, or Streamlit changed: leave the rerun alone
        return ""
