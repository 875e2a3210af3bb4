"""The one exception the data layer raises for anything the user can fix."""

from __future__ import annotations

from explorer.core.errors import ExplorerError


class DataError(ExplorerError):
    """A dataset could not be found, read, validated or downloaded.

    The message names the file, says what is wrong with it, and lists the ways to
    get the data (a data dir, ``python -m explorer fetch-data NAME``, a Debian
    package where there is one, the cache dir).
    """
