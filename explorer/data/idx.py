"""Reading and writing IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the values in C order.
Only unsigned bytes are used here: images (magic 0x00000803, N x H x W) and
labels (magic 0x00000801, N). A path ending in ``.gz`` is gzip-compressed.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from explorer.core.atomic import write_bytes
from explorer.data.errors import DataError
from explorer.data.paths import ways_to_get

UBYTE = 0x08
MAX_IDX_BYTES = 256 * 1024 * 1024  # MNIST's largest file is 47 MB decompressed
SUPPORTED_NDIM = {1: "labels", 3: "images"}


def _fail(path: Path, problem: str, hint: str | None) -> DataError:
    """A DataError naming ``path`` and ``problem``, followed by how to get the data."""
    return DataError(f"{path}: {problem}\n{ways_to_get() if hint is None else hint}")


def _read_bytes(path: Path, hint: str | None) -> bytes | bytearray:
    """The file's content, decompressed if the name ends in ``.gz``, never more than
    MAX_IDX_BYTES (+1, to tell "too large" apart): a small hostile .gz could expand to gigabytes."""
    try:
        size = path.stat().st_size
        if size > MAX_IDX_BYTES:
            raise _fail(path, f"is {size:,} bytes, larger than any dataset this app reads "
                              f"({MAX_IDX_BYTES:,} bytes)", hint)
        data = path.read_bytes()
    except OSError as error:
        raise _fail(path, f"cannot read the file ({error.strerror or error})", hint) from error
    if path.suffix != ".gz":
        return data
    try:
        out = _gunzip_at_most(data, MAX_IDX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise _fail(path, f"not a valid gzip file ({error})", hint) from error
    if len(out) > MAX_IDX_BYTES:
        raise _fail(path, f"decompresses to more than {MAX_IDX_BYTES:,} bytes, larger than any dataset "
                          "this app reads (a damaged or hostile file)", hint)
    return out


def _gunzip_at_most(data: bytes, limit: int) -> bytearray:
    """Decompress gzip `data` (every member), stopping once `limit` bytes are out. Returned as
    the bytearray it was built in: a bytes copy would double the peak memory of a 256 MB file."""
    out = bytearray()
    rest = data
    while rest and len(out) < limit:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += d.decompress(rest, limit - len(out))
        if len(out) >= limit:
            break
        out += d.flush()
        if not d.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
        rest = d.unused_data.lstrip(b"\x00")  # gzip allows zero padding between members
    del out[limit:]
    return out


def _parse_header(path: Path, data: bytes, hint: str | None) -> tuple[int, ...]:
    """The dimensions in the IDX header, after checking the magic number."""
    if len(data) < 4:
        raise _fail(path, f"too short for an IDX file ({len(data)} bytes)", hint)
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != UBYTE or ndim not in SUPPORTED_NDIM:
        raise _fail(
            path,
            f"wrong magic number 0x{data[:4].hex()}; expected 0x00000803 (images) "
            f"or 0x00000801 (labels) - is this an IDX file?",
            hint,
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise _fail(path, f"truncated IDX header ({len(data)} of {header_size} bytes)", hint)
    return struct.unpack(f">{ndim}I", data[4:header_size])


def read_idx(path: str | os.PathLike, hint: str | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes (``.gz`` or raw) into a uint8 array.

    Images come back as (N, H, W), labels as (N,). Raises DataError, naming the
    file, for a bad gzip stream, a wrong magic number, or a size that does not
    match the header exactly (truncated or trailing bytes). ``hint`` replaces the
    generic "how to get the data" text at the end of the message.
    """
    path = Path(path)
    data = _read_bytes(path, hint)
    dims = _parse_header(path, data, hint)
    header_size = 4 + 4 * len(dims)
    expected = header_size + math.prod(dims)  # Python ints: np.prod in int64 wraps for dims near 2**32
    if len(data) != expected:
        shape = " x ".join(str(d) for d in dims)
        what = "truncated" if len(data) < expected else "trailing bytes after the data"
        raise _fail(
            path,
            f"{what}: the header says {SUPPORTED_NDIM[len(dims)]} of shape {shape}, "
            f"so the {'decompressed ' if path.suffix == '.gz' else ''}size should be "
            f"{expected} bytes, but it is {len(data)} bytes",
            hint,
        )
    values = np.frombuffer(data, dtype=np.uint8, offset=header_size)
    return values.reshape(dims).copy()


def idx_bytes(array: np.ndarray) -> bytes:
    """The uncompressed IDX encoding of a uint8 array with 1 or 3 dimensions."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in SUPPORTED_NDIM:
        raise ValueError(
            f"write_idx takes a uint8 array with 1 or 3 dimensions, "
            f"not {array.dtype} with {array.ndim}"
        )
    header = struct.pack(f">HBB{array.ndim}I", 0, UBYTE, array.ndim, *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array (N,) or (N, H, W) as IDX, gzip-compressed if ``path`` ends in .gz.

    The file is written to a temporary file in the same directory and renamed into
    place, so a reader never sees half a file.
    """
    path = Path(path)
    data = idx_bytes(array)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    write_bytes(path, data)
