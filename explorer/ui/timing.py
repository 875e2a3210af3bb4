"""Opt-in timing of app parts, for `python -m explorer bench`.

With EXPLORER_TIMING_LOG=<file> set, every call of a function wrapped in `timed(name)`
appends one JSON line `{"name": ..., "ms": ..., "t": ...}` to that file; without it the
wrapper costs one dictionary lookup. The bench reads the lines to report how long a
fragment's own rerun took on the server, apart from the browser and the network.
"""
from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable

LOG_ENV = "EXPLORER_TIMING_LOG"


def timed(name: str) -> Callable[[Callable], Callable]:
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            path = os.environ.get(LOG_ENV)
            if not path:
                return fn(*args, **kwargs)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                ms = (time.perf_counter() - t0) * 1000.0
                try:
                    with open(path, "a", encoding="utf-8") as f:
                        f.write(json.dumps({"name": name, "ms": round(ms, 3), "t": time.time()}) + "\n")
                except OSError:  # timing is a side show: never break the page for it
                    pass
        return wrapper
    return wrap
