"""The real app server for the tests, on the tiny checkpoints: a thin wrapper around the
tooling's one server launcher (explorer/tooling/harness.py)."""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from explorer.tooling.harness import REPO, repo_env, streamlit_server

__all__ = ["REPO", "app_server"]

_LOGS = itertools.count()  # one log per server, should a test start two in one workdir


@contextmanager
def app_server(checkpoints: Path, workdir: Path, extra_env: dict[str, str] | None = None,
               address: str | None = "127.0.0.1") -> Iterator[tuple[str, object]]:
    """Start `streamlit run explorer/app.py` on a free port showing only `checkpoints`, with its
    cache and log in `workdir`; yield (url, process) once it answers; always stop it.

    `address=None` leaves --server.address out, so .streamlit/config.toml decides."""
    env = repo_env({"EXPLORER_CHECKPOINTS": str(checkpoints), "EXPLORER_CHECKPOINTS_ONLY": "1",
                    "EXPLORER_CACHE_DIR": str(workdir / "cache"), **(extra_env or {})})
    with streamlit_server(log=workdir / f"streamlit-{next(_LOGS)}.log", env=env, address=address, wait_s=90) as server:
        yield server.url, server.proc
