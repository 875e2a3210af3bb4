"""Processes as Linux /proc shows them: whether one still runs (leftovers of killed saves and
background runs), and the one parser of /proc/<pid>/stat (the tooling reads trees and CPU with it)."""
from __future__ import annotations

import os


def pid_alive(pid: int | None) -> bool:
    """Whether a process of this pid runs (a zombie, dead but not yet reaped, does not);
    unknown (None) counts as alive, so is left alone."""
    if pid is None or pid == os.getpid():
        return True
    if not 0 < pid < 2**31:  # no process has it (and os.kill(0 or -1) would ask about a whole group)
        return False
    try:
        if stat_fields(pid)[0] == "Z":
            return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stat_fields(pid: int | str) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces and parentheses): field 3
    (the state) onwards. OSError when there is no such process or no /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        return f.read().rsplit(")", 1)[1].split()
