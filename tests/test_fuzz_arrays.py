"""Property-based fuzzing of the array files the app reads (issue 17): .npy/.npz cache files
(explorer/core/diskcache.py, the per-test-set arrays of core/arraycache.py, the cached maps of
maps/projection.py) and IDX files (data/idx.py), raw and gzip-compressed.

The property (tests/fuzzing.py): a cache file that cannot be used is a miss (None, or the
value computed again), an IDX file is an array or a DataError; within the time bound and the
memory budget; and nothing is written but the cache file itself. Declared sizes stay below a
million elements here: a header that declares far more than the file holds is issue 17's
class 3, with its own tests. Run longer with `make fuzz`.
"""
from __future__ import annotations

import gzip
import io
import math
import struct
import zipfile

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from explorer.core import arraycache, diskcache
from explorer.data.idx import read_idx
from explorer.maps import projection
from fuzzing import MAX_ELEMENTS, assert_wrote_only, files_under, npy_bytes, outcome, sandbox

@st.composite
def npz_bytes(draw, names=st.text(min_size=1, max_size=8)) -> bytes:
    """A .npz archive of fuzzed .npy members (or a zip cut short, or not a zip)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))) as z:
        for name in draw(st.lists(names, max_size=4, unique=True)):
            z.writestr(name + draw(st.sampled_from([".npy", ".npy", ""])), draw(npy_bytes() | st.binary(max_size=30)))
    raw = buffer.getvalue()
    return raw[:draw(st.integers(0, len(raw)))] if draw(st.integers(0, 3)) == 0 else raw


def _real_npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array))
    return buffer.getvalue()


# ---------------------------------------------------------------- the disk cache's readers

@given(raw=npy_bytes() | st.binary(max_size=200))
@example(raw=_real_npy(np.arange(6, dtype=np.float32)))
def test_fuzz_read_npy(raw: bytes) -> None:
    with sandbox() as root:
        (root / "a.npy").write_bytes(raw)
        before = files_under(root)
        result = outcome(diskcache.read_npy, root / "a.npy")
        assert result is None or isinstance(result, np.ndarray)
        assert_wrote_only(root, before, allowed=lambda p: False)


@given(raw=npz_bytes() | st.binary(max_size=200))
def test_fuzz_read_npz(raw: bytes) -> None:
    with sandbox() as root:
        (root / "a.npz").write_bytes(raw)
        before = files_under(root)
        result = outcome(diskcache.read_npz, root / "a.npz")
        assert result is None or all(isinstance(v, np.ndarray) for v in result.values())
        assert_wrote_only(root, before, allowed=lambda p: False)


@given(raw=npz_bytes(names=st.sampled_from(["count", "a0", "a1", "a2"])) | st.binary(max_size=100),
       rows=st.none() | st.integers(0, 5))
def test_fuzz_array_cache(raw: bytes, rows) -> None:
    """A damaged per-test-set array file is computed again and rewritten, nothing else is written."""
    computed = (np.zeros((3, 2), np.float32), np.arange(3))
    with sandbox() as root:
        path = arraycache.cache_path("encode", "model", "data", root=root / "cache")
        path.parent.mkdir(parents=True)
        path.write_bytes(raw)
        before = files_under(root)
        result = outcome(arraycache.arrays, "encode", "model", "data", lambda: computed, root=root / "cache", rows=rows)
        assert isinstance(result, tuple) and all(isinstance(a, np.ndarray) for a in result)
        if rows is not None:
            assert all(len(a) == rows for a in result) or result == computed
        assert_wrote_only(root, before, allowed=lambda p: p == path.relative_to(root).as_posix())


PROJECTION_NAMES = ["coords", "method", "params", "key", "data_key", "seconds", "seed", "created", "version",
                    "mean", "components", "extra_x"]


@given(raw=npz_bytes(names=st.sampled_from(PROJECTION_NAMES)) | st.binary(max_size=100),
       method=st.sampled_from(["pca", "umap", "tsne", "identity", ""]), with_latents=st.booleans())
def test_fuzz_cached_map(raw: bytes, method: str, with_latents: bool) -> None:
    """A file in a checkpoint's projections/ folder is a cached map, or no map; never a crash."""
    with sandbox() as root:
        folder = root / "projections"
        folder.mkdir()
        (folder / f"{method or 'pca'}-0123456789abcdef.npz").write_bytes(raw)
        before = files_under(root)
        latents = np.zeros((4, 3), np.float32) if with_latents else None
        result = outcome(projection.load_cached, folder, method, latents)
        assert result is None or isinstance(result, projection.Projection)
        assert_wrote_only(root, before, allowed=lambda p: False)


# ---------------------------------------------------------------- IDX files

@st.composite
def idx_bytes(draw) -> bytes:
    """An IDX file: a magic number near the real ones, dimensions, and data near the declared size."""
    magic = draw(st.sampled_from([b"\x00\x00\x08\x03", b"\x00\x00\x08\x01"]) | st.binary(min_size=0, max_size=4))
    ndim = magic[3] if len(magic) == 4 else 0
    dims = draw(st.lists(st.integers(0, 64) | st.integers(0, 2**32 - 1), min_size=ndim, max_size=ndim))
    if draw(st.integers(0, 4)) == 0:
        dims = dims[:draw(st.integers(0, len(dims)))]
    header = magic + b"".join(struct.pack(">I", d) for d in dims)
    n = math.prod(dims) if dims else 0
    data = bytes(n) if n <= MAX_ELEMENTS and draw(st.booleans()) else draw(st.binary(max_size=64))
    return header + data[:draw(st.integers(0, len(data)))] if draw(st.integers(0, 3)) == 0 else header + data


@given(raw=idx_bytes() | st.binary(max_size=64), compress=st.sampled_from(["raw", "gz", "bad-gz"]))
@example(raw=b"\x00\x00\x08\x03" + struct.pack(">3I", 2, 3, 3) + bytes(18), compress="gz")
def test_fuzz_read_idx(raw: bytes, compress: str) -> None:
    with sandbox() as root:
        path = root / ("images-idx3-ubyte" + ("" if compress == "raw" else ".gz"))
        if compress == "gz":
            raw = gzip.compress(raw, mtime=0)
        path.write_bytes(raw)
        before = files_under(root)
        result = outcome(read_idx, path, hint="fuzz")
        assert isinstance(result, Exception) or (result.dtype == np.uint8 and result.ndim in (1, 3))
        assert_wrote_only(root, before, allowed=lambda p: False)
