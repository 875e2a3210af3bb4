"""Opt-in timing of app parts, for `python -m explorer bench`.

With EXPLORER_TIMING_LOG=<file> set, every call of a function wrapped in `timed(name)` (and
every block in `span(name)`) appends one JSON line `{"name": ..., "ms": ..., "t": ...}` to that
file (`ms` the wall time, `cpu_ms` the CPU time of the thread that ran it: under load the two
differ by the time spent waiting for the other sessions' threads); without it the wrapper costs
one dictionary lookup. The bench reads the lines (explorer/tooling/timing_log.py) to report
how long a fragment's own rerun, or a page's whole run, took on the server, apart from the
browser and the network.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator

LOG_ENV = "EXPLORER_TIMING_LOG"


_files: dict[str, object] = {}  # path -> the open log file (one per process: many sessions write at once)
_lock = threading.Lock()


def _write(path: str, name: str, ms: float, cpu_ms: float) -> None:
    line = json.dumps({"name": name, "ms": round(ms, 3), "cpu_ms": round(cpu_ms, 3), "t": time.time()}) + "\n"
    try:
        with _lock:
            f = _files.get(path)
            if f is None or not os.path.exists(path):  # the bench removes the log to start afresh
                if f is not None:
                    f.close()
                f = _files[path] = open(path, "a", encoding="utf-8", buffering=1)  # line-buffered
            f.write(line)
    except OSError:  # timing is a side show: never break the page for it
        pass


@contextlib.contextmanager
def span(name: str) -> Iterator[None]:
    """Time the block (when EXPLORER_TIMING_LOG is set); Streamlit's stop and rerun pass through."""
    path = os.environ.get(LOG_ENV)
    if not path:
        yield
        return
    t0, c0 = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        _write(path, name, (time.perf_counter() - t0) * 1000.0, (time.thread_time() - c0) * 1000.0)


def timed(name: str) -> Callable[[Callable], Callable]:
    """Decorator: time every call of the function as `name` (when EXPLORER_TIMING_LOG is set)."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            path = os.environ.get(LOG_ENV)
            if not path:
                return fn(*args, **kwargs)
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                _write(path, name, (time.perf_counter() - t0) * 1000.0, (time.thread_time() - c0) * 1000.0)
        return wrapper
    return wrap

