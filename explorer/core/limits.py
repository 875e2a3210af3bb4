"""The memory budget, and the one check of a declared size against it and against the bytes there.

Every reader of a format that declares its own sizes (an .npy header, IDX dimensions, a
safetensors header, a .npz member) calls `check_declared` before allocating anything: a header
that claims a billion images costs one message, not 2.85 TiB of allocation attempts.
"""
from __future__ import annotations

from explorer.core.errors import ExplorerError

MEMORY_BUDGET_BYTES = 2 * 1024 ** 3  # the most one array read from a file may take: 4x the largest dataset here


def check_declared(nbytes: int, available: int | None, what: str, *, budget: int = MEMORY_BUDGET_BYTES,
                   error: type[Exception] = ExplorerError) -> None:
    """Raise `error` when `what` declares more bytes (`nbytes`) than the file holds (`available`,
    None when unknown) or than the memory budget allows."""
    nbytes = int(nbytes)  # Python ints: a product of declared dimensions cannot overflow
    if nbytes < 0:
        raise error(f"{what} declares a negative size; it is damaged")
    if available is not None and nbytes > available:
        raise error(f"{what} declares {nbytes:,} bytes of data but holds only {max(available, 0):,}; "
                    "it is truncated or damaged")
    if nbytes > budget:
        raise error(f"{what} declares {nbytes:,} bytes of data, more than the {budget:,} bytes this app "
                    "reads into memory at once; split it into smaller files")

