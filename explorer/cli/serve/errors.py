"""The error `python -m explorer serve` raises for what a person can fix (no HAProxy, a busy port)."""
from __future__ import annotations

from explorer.core.errors import ExplorerError


class ServeError(ExplorerError):
    """Serving cannot start: the message says why and what to do."""
