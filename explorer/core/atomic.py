"""The one atomic writer: every file the app writes appears whole or not at all.

A writer gets a temporary file in the destination's folder (same filesystem, so the final
`os.replace` is atomic), writes and fsyncs it, and renames it into place; on any failure,
an interrupt included, the temporary file is removed and the old file is left as it was.
Temporary names start with a dot and carry `.tmp-` (ignored by git and by every reader).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def replacing(path: str | os.PathLike, mode: str = "wb", fsync: bool = True) -> Iterator[IO]:
    """Open a temporary file beside `path`; on a clean exit it replaces `path`, else it vanishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; these files are for every user to read
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes, fsync: bool = True) -> None:
    with replacing(path, "wb", fsync) as f:
        f.write(data)


def write_text(path: str | os.PathLike, text: str, fsync: bool = True) -> None:
    with replacing(path, "w", fsync) as f:
        f.write(text)


def json_safe(obj: Any) -> Any:
    """NaN and infinities become null: JSON has no spelling for them."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_json(path: str | os.PathLike, obj: Any, fsync: bool = True) -> None:
    """`obj` as sorted, indented JSON (NaN written as null), atomically."""
    write_text(path, json.dumps(json_safe(obj), indent=2, sort_keys=True) + "\n", fsync)
