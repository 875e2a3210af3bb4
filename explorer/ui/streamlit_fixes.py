"""Work-arounds for four races in Streamlit 1.67.0's fragment reruns that blank a page or leave it.

Written for Streamlit WRITTEN_FOR (1.67.0); `install()` leaves any other version alone and logs
it. All four happen when a rerun of one fragment (`st.fragment`, e.g. a slider's part of a
page) is requested while a full run of the page, usually after a page change, has not yet
reached the browser. `tests/test_page_race.py` drives each over the websocket.

Upstream behaviour in 1.67.0:

1. A fragment rerun carries the page it was requested from (RerunData.page_script_hash). When
   that is the page being left, ScriptRunner runs it *as that page*: it switches the session
   back, drops the new page's widget state, skips the fragment (gone with the old page) and
   tells the browser the old page is current, which clears the new page.
2. Right after a page change, the browser handles the new page's run and the fragment's run
   in one batch and compares the fragment run's page with the page it showed *before* the
   batch: they differ, so it clears the page and then gets the fragment's elements with
   nothing to put them in ("Bad delta path index 3 (should be between [0, 0])").
3. When a fragment's run starts, AppSession._clear_queue drops that fragment's messages still
   queued for the browser, including those the page's run just wrote; the browser, drawing the
   new page from scratch, gets element 4 with no element 3 and stops.
4. A fragment rerun that arrives while a page switch waits to start is folded into it
   (ScriptRequests) as a full run of the *fragment's* page: a slider moved on the page being
   left just after the click takes the session back there.

What `install()` changes: a fragment rerun that is tagged with another page than the session's,
or that comes while a run that changed the page goes on or within SETTLE_S of its end, runs as
a full run of the session's page (the browser then gets the page whole, with the moved slider's
value); a fragment's run keeps the messages already queued (its own follow them instead of
replacing them); and a fragment rerun folded into a waiting page switch keeps the switch's page.
Full runs (page switches, widgets outside fragments, st.rerun, st.switch_page) are untouched.

Whether the page just changed is kept per session, on its PagesManager (PageRuns), noted as
each run starts and ends: Streamlit starts a new ScriptRunner for every full rerun
(runner.fastReruns) and for a rerun that comes after the last one stopped, and a run that was
stopped for the next one reports its end after the next began, with the next one's page.

It wraps private methods of 1.67.0: ScriptRunner._run_script(rerun_data), where RerunData has
`fragment_id_queue` and `page_script_hash`; ScriptRunContext.reset(page_script_hash=...,
fragment_ids_this_run=...), called as every run starts, including the runs Streamlit chains
inside one _run_script call (st.rerun, st.switch_page, a rerun that stops the run);
ScriptRunner._on_script_finished(ctx, ...), called after every run;
AppSession._clear_queue(fragment_ids_this_run); and ScriptRequests._request_rerun_locked(new_data)
with its `_state` and `_rerun_data`, the rerun waiting to start.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time

_LOG = logging.getLogger(__name__)
_MARK = "_explorer_fragment_fixes"
_RUNS = "_explorer_page_runs"             # on a session's PagesManager: its PageRuns
_RUN_NUMBER = "_explorer_run_number"      # on a ScriptRunContext: the session's number of its current run
# A fragment rerun that comes this long after a page-changing run ended runs as a fragment: the
# browser has had the page by then (race 2 needs both runs in one of its batches). Earlier, or
# while that run goes on, it runs as the whole page.
SETTLE_S = 0.5
_LOCK = threading.Lock()                  # app.py installs from every session's script thread
_SKIPPED = threading.Event()              # set once another version has been logged
_NEEDED = {"fragment_id", "fragment_id_queue", "is_fragment_scoped_rerun", "page_script_hash", "page_name"}
WRITTEN_FOR = "1.67.0"  # the Streamlit whose private methods these wrap, and whose races they fix


def install() -> bool:
    """Wrap the five methods once per process; True when the fixes are in place. Another
    Streamlit than WRITTEN_FOR is left alone (a log line says so), and so is one whose
    methods are not there."""
    import streamlit

    if streamlit.__version__ != WRITTEN_FOR:
        if not _SKIPPED.is_set():
            _SKIPPED.set()
            _LOG.warning("Streamlit fragment fixes not installed: written for Streamlit %s, this is %s",
                      WRITTEN_FOR, streamlit.__version__)
        return False
    try:
        from streamlit.runtime.app_session import AppSession
        from streamlit.runtime.scriptrunner import script_runner
        from streamlit.runtime.scriptrunner_utils.script_requests import RerunData, ScriptRequests
        from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext
    except ImportError as e:  # a Streamlit without these modules: leave it as it is
        _LOG.warning("Streamlit fragment fixes not installed: %s", e)
        return False
    runner = script_runner.ScriptRunner
    if getattr(runner, _MARK, False):  # app.py asks on every run: answered without the lock
        return True
    with _LOCK:
        if getattr(runner, _MARK, False):
            return True
        wraps = [(runner, "_run_script", _run_script), (ScriptRunContext, "reset", _reset),
                 (runner, "_on_script_finished", _on_script_finished),
                 (AppSession, "_clear_queue", _clear_queue), (ScriptRequests, "_request_rerun_locked", _request)]
        if (any(getattr(cls, name, None) is None for cls, name, _ in wraps)
                or not _NEEDED <= {f.name for f in dataclasses.fields(RerunData)}):
            _LOG.warning("Streamlit fragment fixes not installed: ScriptRunner, its context, its requests, "
                         "AppSession or RerunData changed")
            return False
        for cls, name, wrap in wraps:
            setattr(cls, name, wrap(getattr(cls, name)))
        setattr(runner, _MARK, True)
        return True


def _run_script(run_script):  # type: ignore[no-untyped-def]
    """ScriptRunner._run_script: races 1 and 2, a fragment rerun that must be a full run."""
    @functools.wraps(run_script)
    def wrapped(self, rerun_data):  # type: ignore[no-untyped-def]
        page, changed = _session_pages(self)
        return run_script(self, rerun_to_run(rerun_data, page, changed))
    return wrapped


def _reset(reset):  # type: ignore[no-untyped-def]
    """ScriptRunContext.reset, as every run starts: note whether it changes the page."""
    @functools.wraps(reset)
    def wrapped(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        runs = page_runs(self.pages_manager)
        number = runs.started(kwargs.get("fragment_ids_this_run"), kwargs.get("page_script_hash", ""))
        setattr(self, _RUN_NUMBER, number)
        return reset(self, *args, **kwargs)
    return wrapped


def _on_script_finished(on_finished):  # type: ignore[no-untyped-def]
    """ScriptRunner._on_script_finished, after every run: note when the session's latest run ended
    (a run stopped for the next one ends after the next began, and is not the latest)."""
    @functools.wraps(on_finished)
    def wrapped(self, ctx, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return on_finished(self, ctx, *args, **kwargs)
        finally:
            page_runs(ctx.pages_manager).ended(getattr(ctx, _RUN_NUMBER, None), time.monotonic())
    return wrapped


def _clear_queue(clear_queue):  # type: ignore[no-untyped-def]
    """AppSession._clear_queue: race 3. A fragment run's clear with no fragment named: every
    queued message stays (it is still a fragment run's clear, so a finished page run's
    "finished" is kept as it is)."""
    @functools.wraps(clear_queue)
    def wrapped(self, fragment_ids_this_run=None):  # type: ignore[no-untyped-def]
        return clear_queue(self, [] if fragment_ids_this_run else fragment_ids_this_run)
    return wrapped


def _request(request_rerun_locked):  # type: ignore[no-untyped-def]
    """ScriptRequests._request_rerun_locked: race 4, a rerun folded into a waiting one."""
    from streamlit.runtime.scriptrunner_utils.script_requests import ScriptRequestType

    @functools.wraps(request_rerun_locked)
    def wrapped(self, new_data):  # type: ignore[no-untyped-def]
        pending = self._rerun_data if self._state is ScriptRequestType.RERUN else None
        return request_rerun_locked(self, rerun_to_fold(pending, new_data))
    return wrapped


def rerun_to_fold(pending, new_data):  # type: ignore[no-untyped-def]
    """The rerun to fold into `pending` (the rerun waiting to start, None when none waits): a
    fragments-only rerun of another page than a waiting full run's takes that run's page and
    query string. The page switch is what the browser asked for last: the fragment's page is
    the one being left, and Streamlit would otherwise run the folded full run as that page.
    Anything else as it came."""
    fragment_only = bool(new_data.fragment_id or new_data.fragment_id_queue)
    pending_full = pending is not None and not (pending.fragment_id or pending.fragment_id_queue
                                                or pending.is_fragment_scoped_rerun)
    if not (fragment_only and pending_full and pending.page_script_hash
            and new_data.page_script_hash != pending.page_script_hash):
        return new_data
    return dataclasses.replace(new_data, page_script_hash=pending.page_script_hash, page_name=pending.page_name,
                               query_string=pending.query_string)


@dataclasses.dataclass
class PageRuns:
    """A session's runs as they start and end, kept on its PagesManager: Streamlit starts a new
    ScriptRunner (and ScriptRunContext) for every full rerun and after a run has ended."""

    last_page: str | None = None  # the page of the latest full run
    changed: bool = False         # the latest full run is of another page than the one before
    runs: int = 0                 # runs started
    ended_at: float | None = None  # time.monotonic() when the latest run ended; None while it runs

    def started(self, fragment_ids_this_run, page: str) -> int:  # type: ignore[no-untyped-def]
        """A run starts; its number. A full run changes the page when it is of another page than
        the latest full run, or when it is the session's first (where it came from is not known
        here: assume it changed). A fragment's run leaves both as they were."""
        self.runs += 1
        self.ended_at = None
        if not fragment_ids_this_run:
            self.changed = self.last_page is None or self.last_page != (page or "")
            self.last_page = page or ""
        return self.runs

    def ended(self, number: int | None, now: float) -> None:
        """Run `number` ended; only the latest run counts."""
        if number == self.runs:
            self.ended_at = now

    def just_changed(self, now: float) -> bool:
        """The latest full run changed the page, and it goes on or ended under SETTLE_S ago."""
        return self.changed and (self.ended_at is None or now - self.ended_at < SETTLE_S)


def page_runs(pages_manager) -> PageRuns:  # type: ignore[no-untyped-def]
    """The session's PageRuns (made on first use; setdefault is atomic)."""
    return vars(pages_manager).setdefault(_RUNS, PageRuns())


def rerun_to_run(rerun_data, current_page: str, page_just_changed: bool):  # type: ignore[no-untyped-def]
    """The rerun to run: a fragments-only rerun tagged with another page than `current_page`, or
    coming right after a run that changed the page, becomes a full run of `current_page`;
    anything else as it came. Before the session's first run (`current_page` "") nothing is
    known, and Streamlit's own check (a fragment that no longer exists is dropped) stands."""
    if not rerun_data.fragment_id_queue or not current_page:
        return rerun_data
    if not page_just_changed and rerun_data.page_script_hash in ("", current_page):
        return rerun_data
    return dataclasses.replace(rerun_data, fragment_id=None, fragment_id_queue=[], is_fragment_scoped_rerun=False,
                               page_script_hash=current_page, page_name="")


def _session_pages(runner) -> tuple[str, bool]:  # type: ignore[no-untyped-def]
    """(the page of the session's last run, "" before its first; whether it just changed)."""
    try:
        pages = runner._get_script_run_ctx().pages_manager
        return pages.current_page_script_hash or "", page_runs(pages).just_changed(time.monotonic())
    except Exception:  # noqa: BLE001  no context yet, or Streamlit changed: leave the rerun alone
        return "", False
