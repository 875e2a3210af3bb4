"""Work too long for a page's run (a pass over 60,000 training images, a map of 70,000 codes),
done once per process in a background thread while every page keeps answering.

    job(key, work) -> Job      work(job) returns the result and may call job.progress(...)

A page asks for a job, shows its progress while it runs and redraws when it is done; a
second session asking for the same key gets the same job. Streamlit stops a page's run at its
next Streamlit call when the person moves on; a computation inside that run would first finish
and hold the session's next page until then. In a thread it holds nothing.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import streamlit as st

log = logging.getLogger("explorer.ui")


class Job:
    """One piece of background work: its stage, its progress and, once done, its result or error."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.stage = "waiting to start"
        self.done_n = 0
        self.total = 0
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = threading.Event()

    def progress(self, stage: str, done: int = 0, total: int = 0) -> None:
        self.stage, self.done_n, self.total = stage, int(done), int(total)

    @property
    def ready(self) -> bool:
        return self.finished.is_set()

    @property
    def fraction(self) -> float:
        return min(1.0, self.done_n / self.total) if self.total else 0.0

    def wait(self) -> Any:
        """The result, once the work is done; re-raises the work's error."""
        self.finished.wait()
        if self.error is not None:
            raise self.error
        return self.result


def done(key: str, result: Any) -> Job:
    """A job that needs no thread: its result is already at hand (e.g. read from the disk cache)."""
    j = Job(key)
    j.result = result
    j.finished.set()
    return j


@st.cache_resource(show_spinner=False)
def _jobs() -> tuple[dict[str, Job], threading.Lock]:
    return {}, threading.Lock()


def job(key: str, work: Callable[[Job], Any]) -> Job:
    """The job for `key`, started in a daemon thread the first time it is asked for."""
    jobs, lock = _jobs()
    with lock:
        found = jobs.get(key)
        if found is not None:
            return found
        j = jobs[key] = Job(key)
    threading.Thread(target=_run, args=(j, work), name=f"explorer-job-{key[:40]}", daemon=True).start()
    return j


def _run(j: Job, work: Callable[[Job], Any]) -> None:
    try:
        j.result = work(j)
    except Exception as e:  # shown by the page that asked; kept, so it is not retried in a loop
        log.warning("background job %s failed: %s", j.key, e)
        j.error = e
    finally:
        j.finished.set()


def find(key: str) -> Job | None:
    """The job for `key` when one was started, else None (starts nothing)."""
    jobs, lock = _jobs()
    with lock:
        return jobs.get(key)


def forget(key: str) -> None:
    """Drop a finished job (a failed one, to try again)."""
    jobs, lock = _jobs()
    with lock:
        if key in jobs and jobs[key].ready:
            del jobs[key]
