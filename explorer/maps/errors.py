"""The maps layer's error."""


class ProjectionError(ValueError):
    """Parameters a method cannot use, or a method that failed; the message says what to change."""
