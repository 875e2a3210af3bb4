"""A patch to openTSNE 1.0.4, kept apart and applied only to the version it was written for.

openTSNE (openTSNE/affinity.py, `is_package_installed`) asks whether pynndescent is installed
by importing it, on every map, though the answer only matters for sparse data or unusual
metrics (never ours: dense, Euclidean). pynndescent compiles its numba functions on import:
with an empty numba cache that is many seconds a first t-SNE map would pay
(docs/measurements.md). `install()` answers the same question from the package index,
importing nothing. On any other openTSNE version it leaves the library alone.
"""
from __future__ import annotations

import importlib.util
import logging

WRITTEN_FOR = "1.0.4"
log = logging.getLogger(__name__)


def install() -> bool:
    """Patch openTSNE's package probe if it is the version this was written for; idempotent and
    thread-safe (every caller installs the same function). Returns whether it patched."""
    import openTSNE
    import openTSNE.affinity as affinity

    if getattr(openTSNE, "__version__", None) != WRITTEN_FOR:
        log.info("openTSNE %s is not %s: its package probe is left as it is", openTSNE.__version__, WRITTEN_FOR)
        return False
    if getattr(affinity, "is_package_installed", None) is None:
        return False
    affinity.is_package_installed = is_installed
    return True


def is_installed(name: str) -> bool:
    """Whether package `name` is installed, found in the package index without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
