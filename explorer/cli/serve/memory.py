"""How many replicas this machine's memory holds: the default of one per core is capped by the
memory available now, and an explicit --replicas that looks too big for it is warned about.

Each replica is a whole app process (Python, torch, Streamlit, the models and maps it loaded),
so on a machine with many cores and little memory, one per core can run it out of RAM in front
of a class. Linux says what it can give without swapping in MemAvailable (/proc/meminfo); where
that cannot be read (another system), nothing is capped.
"""
from __future__ import annotations

import math
from pathlib import Path

# One replica's memory after every page was opened once: `python -m explorer bench --only map
# --repeats 1` gave peak_rss_mb 470.7 (the server's process tree, VmHWM; docs/measurements.md,
# "Serving a class: replicas and memory"), rounded up.
REPLICA_MB = 500
# Left for the rest: the supervisor and HAProxy (about 60 MB together, same section), and the
# class's sessions, which add to the replicas they are on (one replica with 60 sessions reached
# about 810 MB in `python -m explorer bench --only serve`).
RESERVE_MB = 512
MEMINFO = Path("/proc/meminfo")


def available_mb(meminfo: str) -> float | None:
    """MemAvailable from the text of /proc/meminfo, in MiB; None when the line is not there
    (kernels before 3.14)."""
    for line in meminfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "MemAvailable":
            return int(value.split()[0]) / 1024  # the kernel writes kB (KiB)
    return None


def read_available_mb(path: Path = MEMINFO) -> float | None:
    """MemAvailable of this machine in MiB; None where /proc/meminfo cannot be read."""
    try:
        return available_mb(path.read_text())
    except (OSError, ValueError, IndexError):
        return None


def fits(free_mb: float, replica_mb: float = REPLICA_MB, reserve_mb: float = RESERVE_MB) -> int:
    """How many replicas `free_mb` MiB holds after the reserve: at least 1 (one replica is the
    least that serves at all; with less memory than that, it is the user's call)."""
    return max(1, math.floor((free_mb - reserve_mb) / replica_mb))


def choose_replicas(requested: int | None, cores: int, free_mb: float | None,
                    most: int) -> tuple[int, str | None]:
    """The replica count to start, and a line to say about it (None when there is nothing to
    say). `requested`: --replicas, None for the default of one per core, capped by memory
    (`free_mb`, None when unknown) and by `most`; an explicit count is kept, with a warning when
    `free_mb` looks too small for it."""
    room = None if free_mb is None else fits(free_mb)
    if requested is None:
        count = min(cores, most)
        if room is None or room >= count:
            return count, None
        return room, (f"Starting {room} replica(s), not one per core ({cores}): each takes about {REPLICA_MB} MB "
                        f"and this machine has {free_mb:.0f} MB available (MemAvailable in /proc/meminfo). "
                        f"Ask for more with --replicas N if you know they fit.")
    if room is None or not 1 <= requested <= most or room >= requested:
        return requested, None  # an out-of-range count is refused later with its own message
    return requested, (f"Warning: --replicas {requested} may need about {requested * REPLICA_MB + RESERVE_MB} MB, "
                       f"more than the {free_mb:.0f} MB available (MemAvailable in /proc/meminfo); the machine may "
                       f"run out of memory with a class on it. About {room} fit.")
