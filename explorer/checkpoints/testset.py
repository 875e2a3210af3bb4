"""A checkpoint's passes over its dataset's test set, shipped in its folder as `testset.npz`, so
a fresh machine draws the first map without importing torch or running a model over 10,000
images.

    <dir>/testset.npz   encode: mu, logvar (N, D); classify: pred (N,), proba (N, K)

The file names the weights it was computed with (their SHA-256) and the test set (its
`core.arraycache.data_key`); with other weights or another test set it is not used. Floats are
kept as float16 to keep the file small (a few hundred KB for Fashion-MNIST's 10,000 images):
a relative rounding of at most 2**-11, far below a code's own posterior spread (sigma is
about 0.1 to 1) and below the percent shown for a probability.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from explorer.checkpoints.layout import WEIGHTS_FILE
from explorer.core import diskcache
from explorer.core.atomic import replacing

FILE = "testset.npz"
# what: the arrays' names, in the order the computation returns them, and how each is stored
KINDS: dict[str, tuple[tuple[str, str], ...]] = {
    "encode": (("mu", "float16"), ("logvar", "float16")),
    "classify": (("pred", "uint8"), ("proba", "float16")),
}
READ_AS = {"float16": np.float32, "uint8": np.int64}


def weights_digest(checkpoint: Path) -> str:
    """SHA-256 of the checkpoint's weights file ("" when it cannot be read)."""
    h = hashlib.sha256()
    try:
        with open(Path(checkpoint) / WEIGHTS_FILE, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return ""
    return h.hexdigest()


def read(checkpoint: Path, what: str, data_key: str, rows: int) -> tuple[np.ndarray, ...] | None:
    """The shipped arrays of `what` ("encode" or "classify") when the file is there and was made
    with these weights over this test set (`rows` images), as float32 / int64; else None."""
    if what not in KINDS:  # nothing of this kind is ever shipped: no file to read
        return None
    z = diskcache.read_npz(Path(checkpoint) / FILE)
    if z is None:
        return None
    try:
        if str(z["data_key"]) != data_key or str(z["weights"]) != weights_digest(checkpoint):
            return None
        out = tuple(z[f"{what}.{name}"].astype(READ_AS[kind]) for name, kind in KINDS[what])
    except (KeyError, ValueError):
        return None
    return out if all(len(a) == rows for a in out) else None


def write(checkpoint: Path, data_key: str, computed: dict[str, tuple[np.ndarray, ...]]) -> Path:
    """Write `computed` ({what: the arrays that computation returns}) as the checkpoint's testset.npz."""
    arrays = {"data_key": np.array(data_key), "weights": np.array(weights_digest(checkpoint))}
    for what, values in computed.items():
        for (name, kind), a in zip(KINDS[what], values, strict=True):
            arrays[f"{what}.{name}"] = np.asarray(a).astype(kind)
    path = Path(checkpoint) / FILE
    with replacing(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


__all__ = ["FILE", "read", "write", "weights_digest"]
