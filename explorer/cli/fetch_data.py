"""`python -m explorer fetch-data NAME`: find a dataset's files or download them, checksums verified."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from explorer.data.download import fetch
from explorer.data.errors import DataError
from explorer.data.paths import locate_files
from explorer.data.registry import get_spec


def fetch_data_command(args: argparse.Namespace) -> int:
    """Download a dataset; print where it went. Returns the exit status.

    Reads ``args.name`` (dataset name) and, if present, ``args.data_dir``,
    ``args.mirror`` (a list of base URLs overriding the spec's mirrors) and
    ``args.force`` (download even when the files are already found somewhere).
    """
    data_dir = getattr(args, "data_dir", None)
    try:
        spec = get_spec(args.name)
        if not spec.files:
            print(f"{spec.name} is bundled with the app; nothing to download.")
            return 0
        found = locate_files(spec, data_dir)
        if found is not None and not getattr(args, "force", False):
            print(f"{spec.name}: already available in {found}; nothing to download.")
            return 0
        with _ProgressBar() as progress:
            target = fetch(spec, data_dir=data_dir, mirrors=getattr(args, "mirror", None) or None,
                           progress=progress)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{spec.name}: files are in {target}")
    return 0


class _ProgressBar:
    """A context manager giving a progress callback that drives one tqdm bar per file."""

    def __init__(self) -> None:
        self._bar = None
        self._filename: str | None = None

    def __enter__(self) -> Callable[[str, int, "int | None"], None]:
        return self._update

    def __exit__(self, *exc_info: object) -> None:
        self._close()

    def _update(self, filename: str, done: int, total: int | None) -> None:
        from tqdm import tqdm

        if filename != self._filename or done == 0:
            self._close()
            self._filename = filename
            self._bar = tqdm(total=total, desc=filename, unit="B", unit_scale=True, leave=True)
        self._bar.update(done - self._bar.n)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
