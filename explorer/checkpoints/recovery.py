"""Replacing a checkpoint directory whole, and recovering from a save that was killed.

The one place for the directory swap: a save writes a temporary sibling
`.<name>.tmp-<pid>-...`, moves the old directory aside to `.<name>.old-<pid>-<ns>`, renames
the new one into place and removes the old. A save killed between the two renames leaves
no `<name>` but an old copy, which `recover_interrupted` (called by every load) puts back.
Both hidden names are ignored by git (.gitignore) and by list_checkpoints.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from explorer.core.procs import pid_alive


@contextlib.contextmanager
def replacing_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary directory beside `path` to fill; on a clean exit its files are fsynced and
    it replaces `path` whole, else it is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a checkpoint is for everyone who runs the app
        yield tmp
        _fsync_files(tmp)
        _swap_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_files(d: Path) -> None:
    for p in d.iterdir():
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())


def _swap_into_place(tmp: Path, path: Path) -> None:
    """Rename `tmp` to `path`; an old `path` is moved aside first and removed after."""
    if not path.exists():
        os.rename(tmp, path)
        return
    old = path.parent / f".{path.name}.old-{os.getpid()}-{time.time_ns()}"
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def recover_interrupted(path: str | os.PathLike) -> None:
    """If a save was killed between its two renames, put the old checkpoint back; then remove
    what killed saves left behind (temporary and old copies of processes no longer running)."""
    path = Path(path)
    if not path.exists():
        olds = sorted(path.parent.glob(f".{path.name}.old-*"), key=lambda p: p.stat().st_mtime)
        if olds:
            os.rename(olds[-1], path)
    if path.exists():
        for leftover in [*path.parent.glob(f".{path.name}.tmp-*"), *path.parent.glob(f".{path.name}.old-*")]:
            if not pid_alive(_pid_of(leftover)):
                shutil.rmtree(leftover, ignore_errors=True)


def _pid_of(leftover: Path) -> int | None:
    """The pid in `.<name>.tmp-<pid>-...` or `.<name>.old-<pid>-...`; None for other names."""
    tail = leftover.name.rsplit(".tmp-", 1)[-1] if ".tmp-" in leftover.name else leftover.name.rsplit(".old-", 1)[-1]
    head = tail.split("-", 1)[0]
    return int(head) if head.isdigit() else None
