"""The libraries every page needs, imported once per server process by one session's run while
the others wait, before any page runs.

Why: CPython 3.11 imports a module at most once, but when many threads import a package with
import cycles inside it at the same moment, its deadlock avoidance can hand one of them the
half-initialised module ("partially initialized module 'pandas' has no attribute 'Series'").
A server that has just started (or a replica started again behind `python -m explorer serve`,
to which a killed replica's users all come back at once) runs many sessions' first runs
together, and Streamlit and plotly import pandas and pyarrow lazily inside those runs. torch is
left out: the sidebar and a cached map do not need it, and the first map should not wait for it.
"""
from __future__ import annotations

import importlib
import threading

MODULES = ("numpy", "pandas", "pyarrow", "plotly.graph_objects", "PIL.Image")
_LOCK = threading.Lock()
_DONE = threading.Event()


def import_once() -> None:
    """Import MODULES in this thread, once per process; other callers wait until it is done."""
    if _DONE.is_set():
        return
    with _LOCK:
        if not _DONE.is_set():
            for name in MODULES:
                importlib.import_module(name)
            _DONE.set()
