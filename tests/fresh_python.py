"""Run a snippet in a fresh Python process from the repository root (what a new start imports,
what a first run compiles): the tests that need a clean sys.modules or numba cache use this."""
from __future__ import annotations

import os
import subprocess
import sys

from helpers import REPO


def last_line(code: str, env: dict[str, str] | None = None, timeout: float = 180) -> str:
    """The last line `code` prints in a fresh interpreter; fails the test, with its stderr, when
    the process does not exit 0. `env` adds to this process's environment."""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""
