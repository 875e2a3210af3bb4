"""Where the app keeps what it computes: the cache dir, from the environment."""
from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_ENV = "EXPLORER_CACHE_DIR"
DEFAULT_CACHE_DIR = Path("~/.cache/latent-explorer")


def env_path(variable: str) -> Path | None:
    """The path in environment variable ``variable``, or None if unset or empty."""
    value = os.environ.get(variable, "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """The cache dir: ``$EXPLORER_CACHE_DIR``, else ``~/.cache/latent-explorer``.

    Downloads go to ``cache_dir() / <name>``; decoded arrays to ``cache_dir() / "decoded"``.
    The directory is not created here.
    """
    return env_path(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR.expanduser()
