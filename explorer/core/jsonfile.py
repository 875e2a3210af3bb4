"""The one way the app reads a JSON file: bounded in size and nesting, every failure one message.

    read_json(path, max_bytes=..., what="a checkpoint config", error=CheckpointError) -> value

The size is checked before a byte is read (and only a regular file is opened: a named pipe
would block), the nesting depth before the parser runs. Python's json parser recurses once
per level, so 100,000 nested arrays end in RecursionError; here they end in `error` with a
message naming the file, like a file too large, not UTF-8 or not JSON at all.
"""
from __future__ import annotations

import json
import os
import re
import stat
from typing import Any

import numpy as np

from explorer.core.errors import ExplorerError

MAX_DEPTH = 64                  # our files nest 5 levels at most; a model card's metrics a few more
MAX_JSON_BYTES = 4 * 1024 * 1024

# A JSON string: quote, then runs of plain characters and escapes (unrolled, so the regex engine
# never backtracks), then quote. Brackets inside strings do not nest anything.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def nesting_depth(text: str) -> int:
    """How deep the arrays and objects of JSON `text` nest (0 for a bare number or string),
    counted without recursion: strings removed, then a running sum over the brackets."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    codes = np.frombuffer(brackets.encode("ascii"), dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def parse_json(text: str, *, what: str, max_depth: int = MAX_DEPTH, error: type[Exception] = ExplorerError) -> Any:
    """`text` parsed as JSON, or `error` saying that `what` nests too deeply or is not JSON."""
    openers = text.count("[") + text.count("{")  # an upper bound of the depth, in C: most files stop here
    depth = nesting_depth(text) if openers > max_depth else 0
    if depth > max_depth:
        raise error(f"{what} nests {depth} levels deep, more than the {max_depth} this app reads; "
                    "it is damaged or not one of ours: replace it")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        raise error(f"{what} is not valid JSON ({e})") from e


def read_json(path: str | os.PathLike, *, what: str, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH,
              error: type[Exception] = ExplorerError) -> Any:
    """The JSON value in `path` (`what` it is, for the message), or `error` naming the file when it is
    missing, not a regular file, larger than `max_bytes`, not UTF-8, nested deeper than `max_depth`,
    or not JSON."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path} is not a regular file; {what} must be one")
        if st.st_size > max_bytes:
            raise error(f"{path} is {st.st_size:,} bytes, too large for {what} (at most {max_bytes:,})")
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)  # the file may have grown since stat
    except OSError as e:
        raise error(f"{path} cannot be read ({e.strerror or e})") from e
    if len(data) > max_bytes:
        raise error(f"{path} is more than {max_bytes:,} bytes, too large for {what}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{path} is not valid JSON (not UTF-8 text: {e})") from e
    return parse_json(text, what=str(path), max_depth=max_depth, error=error)
