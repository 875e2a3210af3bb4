"""A disk cache for what a model computes over a whole test set (latent means, the CNN's
predictions, reconstruction errors), so opening a checkpoint a second time, in a new
process, costs a file read instead of a pass over 10,000 images.

    arrays("encode", model_key, data_key, compute) -> tuple of arrays

`model_key` must change whenever the weights do (the app passes the checkpoint's path
and file times), `data_key` whenever the images do (`data_key(images, labels)`). Files go
to `<cache_dir()>/arrays/<what>-<key>.npz`, written to a temporary file and renamed, read
with allow_pickle=False. A cache that cannot be read or written only costs time.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from explorer.core.paths import cache_dir as default_cache_dir

VERSION = 1  # bumped when what a cached computation returns changes


def data_key(images: np.ndarray, labels: np.ndarray | None = None) -> str:
    """16 hex chars of a hash over the images (and labels): which test set the arrays are of."""
    h = hashlib.blake2b(digest_size=8)
    for a in (images, labels):
        if a is not None:
            a = np.ascontiguousarray(a)
            h.update(repr((a.shape, str(a.dtype))).encode())
            h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def cache_path(what: str, model_key: str, dkey: str, root: str | os.PathLike | None = None) -> Path:
    key = hashlib.sha256(json.dumps({"what": what, "model": model_key, "data": dkey, "version": VERSION},
                                    sort_keys=True).encode()).hexdigest()[:16]
    return Path(root if root is not None else default_cache_dir()) / "arrays" / f"{what}-{key}.npz"


def arrays(what: str, model_key: str, dkey: str, compute: Callable[[], tuple[np.ndarray, ...]],
           root: str | os.PathLike | None = None, rows: int | None = None) -> tuple[np.ndarray, ...]:
    """The arrays `compute()` returns, read from the cache when there (each with `rows` rows, if given)."""
    path = cache_path(what, model_key, dkey, root)
    found = _read(path, rows)
    if found is not None:
        return found
    result = tuple(np.asarray(a) for a in compute())
    try:
        _write(path, result)
    except OSError:  # read-only home, full disk: the arrays are still right, just not kept
        pass
    return result


def _read(path: Path, rows: int | None) -> tuple[np.ndarray, ...] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            n = int(z["count"])
            out = tuple(np.asarray(z[f"a{i}"]) for i in range(n))
    except Exception:  # missing, truncated or foreign: a miss, never a crash
        return None
    if rows is not None and any(len(a) != rows for a in out):
        return None
    return out


def _write(path: Path, result: tuple[np.ndarray, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, count=np.array(len(result)), **{f"a{i}": a for i, a in enumerate(result)})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
