"""The one disk cache: how a cache file is named, read and written.

Every cache of the app (the test-set arrays of explorer/core/arraycache.py, the 2-D maps
of explorer/maps/projection.py, the anomaly scores of explorer/analysis/teach.py, the
decoded datasets of explorer/data/loader.py, cifar.py and folders.py, the generated shapes of
explorer/data/shapes.py) keys its files with `key()`, reads them with `read_npz` / `read_npy`,
writes them with `write_npz` / `write_npy`, and computes each entry through `once()`.

- A key is a hex digest over parts hashed in order; each cache passes the parts, hash and
  length it has always used, so files written by earlier versions keep their names.
- A read never unpickles, checks every declared array size against the bytes there and the
  memory budget before allocating (explorer/core/npyfile.py), and any file it cannot use
  (missing, truncated, foreign, declaring more than it holds, or holding a NaN or an infinity,
  which nothing the app caches should) is a miss (None), never an error: a cache only costs time.
- A write is atomic (explorer/core/atomic.py): a reader sees the old file or the new one.
- `once()` computes an entry once however many processes ask for it at the same time (the
  replicas of `python -m explorer serve` share one cache dir): the first takes an flock on a
  lock file beside the entry (removed when done), computes and writes; the others wait for
  that lock, bounded by `wait_s`, then read what it wrote. After the wait runs out they compute
  it themselves: a cache only costs time, never a hang.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from explorer.core.atomic import replacing
from explorer.core.finite import all_finite
from explorer.core.npyfile import load_npy, load_npz

LOCK_WAIT_S = 600.0  # longer than any map or pass over a test set takes here; then compute anyway
LOCK_POLL_S = 0.05
T = TypeVar("T")


def array_header(a: np.ndarray) -> str:
    """The part of a key that tells arrays of equal bytes apart: their shape and dtype."""
    return repr((a.shape, str(a.dtype)))


def _as_bytes(part: Any) -> bytes | memoryview:
    if isinstance(part, (bytes, bytearray, memoryview)):
        return part
    if isinstance(part, str):
        return part.encode()
    if isinstance(part, np.ndarray):
        return memoryview(np.ascontiguousarray(part)).cast("B")  # C-order bytes, as a.tobytes()
    return json.dumps(part, sort_keys=True).encode()            # dicts, lists, numbers: sorted JSON


def key(*parts: Any, hasher: Callable[[], Any] = hashlib.sha256, length: int = 16) -> str:
    """`length` hex chars of `hasher` over `parts` in order: bytes as they are, str as UTF-8,
    arrays as their C-order bytes (no shape: add `array_header(a)`), anything else as sorted JSON."""
    h = hasher()
    for part in parts:
        h.update(_as_bytes(part))
    return h.hexdigest()[:length]


def blake2b_64() -> Any:
    """blake2b with an 8-byte digest (16 hex chars): the array cache's hash."""
    return hashlib.blake2b(digest_size=8)


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """Every array in a .npz cache file, or None when it cannot be used. Never unpickles."""
    try:
        arrays = load_npz(path)
    except Exception:  # missing, truncated, foreign or holding objects: a miss, never a crash
        return None
    return arrays if all_finite(*arrays.values()) else None


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` as a .npz file atomically (raises OSError when it cannot be written)."""
    with replacing(path, "wb", fsync=False) as f:  # a cache lost to a power cut is computed again
        np.savez(f, **arrays)


def read_npy(path: str | os.PathLike) -> np.ndarray | None:
    """The array in a .npy cache file, or None when it cannot be used. Never unpickles."""
    try:
        array = load_npy(path, str(path))
    except Exception:  # missing, truncated or foreign: a miss
        return None
    return array if all_finite(array) else None


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write `array` as a .npy file atomically (raises OSError when it cannot be written)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    with replacing(path, "wb", fsync=False) as f:
        f.write(buffer.getbuffer())


def newest_first(folder: str | os.PathLike, pattern: str) -> list[Path]:
    """The files in `folder` matching `pattern`, most recently written first ([] without the folder)."""
    d = Path(folder)
    if not d.is_dir():
        return []
    return sorted(d.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)


def drop_older(path: str | os.PathLike) -> None:
    """Remove the other versions of a cache file named ``<what>-<version><suffix>``: the files
    beside it with the same ``<what>`` and suffix (a source that changed leaves no stale copy)."""
    path = Path(path)
    what = path.stem.rsplit("-", 1)[0]
    for stale in path.parent.glob(f"{what}-*{path.suffix}"):
        if stale != path and stale.stem.rsplit("-", 1)[0] == what:
            stale.unlink(missing_ok=True)


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file of a cache entry: beside it, hidden, so no cache's glob or reader sees it."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def exclusive(path: str | os.PathLike, wait_s: float = LOCK_WAIT_S) -> Iterator[bool]:
    """Hold the cross-process lock of cache entry `path` (fcntl.flock on its lock file) while
    the block runs. Yields True when held; False, after `wait_s` seconds or when the lock file
    cannot be made (a read-only folder), and the block runs anyway. The holder removes the lock
    file when done, so a cache dir keeps no lock files: a waiter that then gets the lock of the
    removed file opens the path again (the inode check below), so two never hold it at once."""
    lock = lock_path(path)
    deadline = time.monotonic() + wait_s
    fd = None
    try:
        while fd is None:
            lock.parent.mkdir(parents=True, exist_ok=True)
            candidate = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            if not _flock(candidate, deadline):
                os.close(candidate)
                break
            try:
                same = os.fstat(candidate).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same = False
            if same:
                fd = candidate
            else:
                os.close(candidate)
    except OSError:
        pass  # no lock file can be made here: compute without one
    try:
        yield fd is not None
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                lock.unlink()
            os.close(fd)  # closing the descriptor releases the lock


def _flock(fd: int, deadline: float) -> bool:
    """Take an exclusive flock on `fd`, polling until `deadline`; whether it was taken."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(LOCK_POLL_S)


def once(path: str | os.PathLike, read: Callable[[], T | None], make: Callable[[], T],
         wait_s: float = LOCK_WAIT_S) -> T:
    """`read()` when the entry is there; else `make()` (which computes and writes it) under the
    entry's lock, after reading once more: another process may have written it meanwhile."""
    found = read()
    if found is not None:
        return found
    with exclusive(path, wait_s):
        found = read()
        return found if found is not None else make()
