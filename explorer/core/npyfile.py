""".npy and .npz files read with their declared sizes checked first.

An .npy header declares a shape and a dtype; numpy allocates what it declares before reading
the data. `load_npy` and `load_npz` read each header themselves, check the declared bytes
against the bytes the file (or the archive member) holds and against the memory budget
(explorer/core/limits.py), and only then let numpy load. Nothing is ever unpickled.
"""
from __future__ import annotations

import math
import os
import zipfile
from typing import IO

import numpy as np

from explorer.core.errors import ExplorerError
from explorer.core.limits import MEMORY_BUDGET_BYTES, check_declared

ZIP_MAGIC = b"PK\x03\x04"
NPY_MAGIC = b"\x93NUMPY"


def declared_bytes(fp: IO[bytes], what: str, error: type[Exception] = ExplorerError) -> tuple[int, tuple, np.dtype]:
    """Read an .npy header from `fp` (left just after it): the bytes of data it declares, its shape
    and dtype. Raises `error` for a header that is not one, or that declares Python objects."""
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError(f".npy format version {version[0]}.{version[1]} is not read here (1.0 and 2.0 are)")
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as e:
        raise error(f"{what} is not a readable .npy array ({e})") from e
    if dtype.hasobject:
        raise error(f"{what} is not a readable .npy array: it holds Python objects, which are never unpickled; "
                    "save plain numbers instead")
    return math.prod(shape) * dtype.itemsize, tuple(shape), dtype


def load_npy(path: str | os.PathLike, what: str, *, budget: int = MEMORY_BUDGET_BYTES,
             error: type[Exception] = ExplorerError) -> np.ndarray:
    """The array in the .npy file `path`, after its declared size was checked against the file's
    bytes and `budget`. Raises `error` (naming `what`) for anything else: an .npz archive, a
    foreign file, a header that claims more than is there."""
    try:
        with open(path, "rb") as f:
            if f.read(len(ZIP_MAGIC)) == ZIP_MAGIC:
                raise error(f"{what} is not a readable .npy array (it is an .npz archive)")
            f.seek(0)
            nbytes, _, _ = declared_bytes(f, what, error)
            check_declared(nbytes, os.fstat(f.fileno()).st_size - f.tell(), what, budget=budget, error=error)
        return np.load(path, allow_pickle=False)
    except FileNotFoundError as e:
        raise error(f"{what}: no such file") from e
    except (ValueError, OSError, EOFError) as e:
        raise error(f"{what} is not a readable .npy array ({e})") from e


def check_npz(path: str | os.PathLike, *, budget: int = MEMORY_BUDGET_BYTES,
              error: type[Exception] = ExplorerError) -> None:
    """Raise `error` unless every member of the .npz archive declares no more bytes than it holds
    and all of them together fit in `budget`."""
    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                what = f"{path}: member {info.filename}"
                with archive.open(info) as member:
                    nbytes, _, _ = declared_bytes(member, what, error)
                    header = member.tell()
                check_declared(nbytes, info.file_size - header, what, budget=budget, error=error)
                total += nbytes
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as e:
        raise error(f"{path} is not a readable .npz archive ({e})") from e
    check_declared(total, None, str(path), budget=budget, error=error)


def load_npz(path: str | os.PathLike, *, budget: int = MEMORY_BUDGET_BYTES,
             error: type[Exception] = ExplorerError) -> dict[str, np.ndarray]:
    """Every array in the .npz archive `path`, its declared sizes checked first (see check_npz)."""
    check_npz(path, budget=budget, error=error)
    try:
        with np.load(path, allow_pickle=False) as z:
            return {name: np.asarray(z[name]) for name in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise error(f"{path} is not a readable .npz archive ({e})") from e
