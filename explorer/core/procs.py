"""Whether another process is still running (for leftovers of killed saves and background runs)."""
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
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
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
