"""A disk cache for what a model computes over a whole test set (latent means, the CNN's
predictions, reconstruction errors), so opening a checkpoint a second time, in a new
process, costs a file read instead of a pass over 10,000 images.

    arrays("encode", model_key, data_key, compute) -> tuple of arrays

`model_key` must change whenever the weights do (the app passes the checkpoint's path
and file times), `data_key` whenever the images do (`data_key(images, labels)`). Files go
to `<cache_dir()>/arrays/<what>-<key>.npz`, named, written and read by explorer/core/diskcache.py
(atomic writes, reads that never unpickle, each entry computed once however many processes
ask for it). A cache that cannot be read or written only costs time.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from explorer.core import diskcache
from explorer.core.paths import cache_dir as default_cache_dir

VERSION = 1  # bumped when what a cached computation returns changes


def data_key(images: np.ndarray, labels: np.ndarray | None = None) -> str:
    """16 hex chars of a hash over the images (and labels): which test set the arrays are of."""
    parts = []
    for a in (images, labels):
        if a is not None:
            a = np.ascontiguousarray(a)
            parts += [diskcache.array_header(a), a]
    return diskcache.key(*parts, hasher=diskcache.blake2b_64)


def cache_path(what: str, model_key: str, dkey: str, root: str | os.PathLike | None = None) -> Path:
    """Where the arrays of computation `what` by model `model_key` over test set `dkey` are kept."""
    key = diskcache.key({"what": what, "model": model_key, "data": dkey, "version": VERSION})
    return Path(root if root is not None else default_cache_dir()) / "arrays" / f"{what}-{key}.npz"


def cached(what: str, model_key: str, dkey: str, root: str | os.PathLike | None = None,
           rows: int | None = None) -> tuple[np.ndarray, ...] | None:
    """The arrays kept for this computation, or None when there are none (never computes)."""
    return _read(cache_path(what, model_key, dkey, root), rows)


def arrays(what: str, model_key: str, dkey: str, compute: Callable[[], tuple[np.ndarray, ...]],
           root: str | os.PathLike | None = None, rows: int | None = None) -> tuple[np.ndarray, ...]:
    """The arrays `compute()` returns, read from the cache when there (each with `rows` rows, if given)."""
    path = cache_path(what, model_key, dkey, root)

    def make() -> tuple[np.ndarray, ...]:
        result = tuple(np.asarray(a) for a in compute())
        try:
            diskcache.write_npz(path, {"count": np.array(len(result)), **{f"a{i}": a for i, a in enumerate(result)}})
        except OSError:  # read-only home, full disk: the arrays are still right, just not kept
            pass
        return result

    # once: replicas of the server sharing this cache compute each entry once between them
    return diskcache.once(path, lambda: _read(path, rows), make)


def _read(path: Path, rows: int | None) -> tuple[np.ndarray, ...] | None:
    z = diskcache.read_npz(path)
    try:
        out = tuple(z[f"a{i}"] for i in range(int(z["count"])))
    except Exception:  # missing (None), or not one of ours: a miss
        return None
    if rows is not None and any(len(a) != rows for a in out):
        return None
    return out
