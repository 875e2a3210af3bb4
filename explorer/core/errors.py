"""The one base of every error the app means a person to read.

Each layer raises its own subclass (ConfigError, DataError, CheckpointError, AnalysisError,
ProjectionError, DeviceError, SettingsError, JobError, UserError, ...), with a message that
says what was wrong and what to do. The entry points turn any ExplorerError into that one
message: the CLI prints `error: <message>` and exits with status 2; the app shows it on the
page. Anything else that escapes is a bug, not a user's mistake.
"""
from __future__ import annotations


class ExplorerError(Exception):
    """A failure a person can act on; str(e) is the whole message (what was wrong, what to do)."""


def error_line(error: BaseException, limit: int | None = None) -> str:
    """The one wording of an error a person can fix, as the CLI prints it and the page shows it:
    `error: <message>` (the message cut to `limit` characters when given)."""
    text = str(error).strip() or type(error).__name__
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"error: {text}"
