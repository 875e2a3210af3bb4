"""The maps layer's error."""

from explorer.core.errors import ExplorerError


class ProjectionError(ExplorerError, ValueError):
    """Parameters a method cannot use, or a method that failed; the message says what to change."""
