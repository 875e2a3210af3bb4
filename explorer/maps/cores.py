"""How many threads a map may use: the cores other processes leave idle."""
from __future__ import annotations

import os


def threads(leave_a_core: bool = False) -> int:
    """Worker threads for a map: the cores other processes leave idle (1-minute load
    average, this process not counted), all but one when `leave_a_core`, at least 1, at most 8.
    Threads that meet at every iteration (openTSNE's, the large UMAP's epochs) wait more than
    they work on busy cores (docs/measurements.md). Every map is the same whatever the count."""
    cores = os.cpu_count() or 2
    try:
        busy = max(0.0, os.getloadavg()[0] - 1.0)  # this process, running, is one of the load
    except (OSError, AttributeError):                # no load average on this platform
        busy = 0.0
    idle = int(round(cores - busy))
    return max(1, min(8, idle, cores - 1 if leave_a_core else cores))


def spare(leave_a_core: bool = False) -> int:
    """Threads for work whose threads wait without spinning (the large UMAP's layout, which uses
    at most umap_large.PARTS of them): every core, all but one when `leave_a_core`, at least 1,
    at most 8. A busy core only slows such
    a thread down, where an OpenMP thread waiting at a barrier on it burns the other cores."""
    cores = os.cpu_count() or 2
    return max(1, min(8, cores - 1 if leave_a_core else cores))
