"""The real app server as a child process, for tests that need its pid or its environment
(the load test, the no-network audit). Same command line as tests/test_e2e.py's fixture."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from helpers import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(checkpoints: Path, workdir: Path, extra_env: dict[str, str] | None = None,
               address: str | None = "127.0.0.1"):
    """Start `streamlit run explorer/app.py` on a free port, yield (url, process); always stop it.

    `address=None` leaves --server.address out, so .streamlit/config.toml decides."""
    port = free_port()
    env = {**os.environ, "EXPLORER_CHECKPOINTS": str(checkpoints), "EXPLORER_CHECKPOINTS_ONLY": "1",
           "EXPLORER_CACHE_DIR": str(workdir / "cache"), "PYTHONPATH": str(REPO), **(extra_env or {})}
    cmd = [sys.executable, "-m", "streamlit", "run", "explorer/app.py", "--server.port", str(port),
           "--server.headless", "true", "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    if address is not None:
        cmd += ["--server.address", address]
    log = workdir / f"streamlit-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with status {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not answer on {url}:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
