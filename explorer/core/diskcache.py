"""The one disk cache: how a cache file is named, read and written.

Every cache of the app (the test-set arrays of explorer/core/arraycache.py, the 2-D maps
of explorer/maps/projection.py, the anomaly scores of explorer/analysis/teach.py, the
decoded datasets of explorer/data/loader.py) keys its files with `key()`, reads them with
`read_npz` / `read_npy` and writes them with `write_npz` / `write_npy`.

- A key is a hex digest over parts hashed in order; each cache passes the parts, hash and
  length it has always used, so files written by earlier versions keep their names.
- A read never unpickles, checks every declared array size against the bytes there and the
  memory budget before allocating (explorer/core/npyfile.py), and any file it cannot use
  (missing, truncated, foreign, declaring more than it holds, or holding a NaN or an infinity,
  which nothing the app caches should) is a miss (None), never an error: a cache only costs time.
- A write is atomic (explorer/core/atomic.py): a reader sees the old file or the new one.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from explorer.core.atomic import replacing
from explorer.core.finite import all_finite
from explorer.core.npyfile import load_npy, load_npz


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
