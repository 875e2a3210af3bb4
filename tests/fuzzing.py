"""What the property-based fuzz tests (tests/test_fuzz_*.py) share: the project's own error
types, the bounds every parse must keep (time, memory, files written), and JSON strategies.

The property, for every parser and loader: any input ends in a result or in one of
PROJECT_ERRORS with a message; never another exception, never longer than TIME_BOUND_S,
never more than MEMORY_BUDGET_MB of new peak memory, never a file outside the output asked for.

The Hypothesis profiles are registered in tests/conftest.py ("ci" for `make test`, "long"
for `make fuzz`, chosen with HYPOTHESIS_PROFILE).
"""
from __future__ import annotations

import contextlib
import struct
import os
import resource
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from explorer.core.errors import ExplorerError

# Every error the project raises for a bad input has a message for the user and subclasses this.
PROJECT_ERRORS: tuple[type[BaseException], ...] = (ExplorerError,)

TIME_BOUND_S = 60         # a hard bound per example (SIGALRM), far above any honest parse here
MEMORY_BUDGET_MB = 512    # new peak resident memory one parse may add (ru_maxrss growth)


class Hang(Exception):
    """An example ran past TIME_BOUND_S: the parser hangs or works without bound."""


@contextlib.contextmanager
def time_bound(seconds: float = TIME_BOUND_S) -> Iterator[None]:
    """Interrupt the block with Hang after `seconds` (the main thread's SIGALRM; pytest runs there)."""
    def expire(signum, frame):
        raise Hang(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def outcome(fn: Callable[..., Any], *args, budget_mb: float = MEMORY_BUDGET_MB, **kwargs) -> Any:
    """`fn(*args, **kwargs)` under the time bound and the memory budget: its result, or the
    project error it raised (with a non-empty message). Any other exception fails the test."""
    before = peak_rss_mb()
    try:
        with time_bound():
            result = fn(*args, **kwargs)
    except PROJECT_ERRORS as e:
        assert str(e).strip(), f"{type(e).__name__} raised without a message"
        result = e
    growth = peak_rss_mb() - before
    assert growth <= budget_mb, f"the parse raised peak memory by {growth:.0f} MB (budget {budget_mb} MB)"
    return result


def files_under(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root`, relative path -> (size, mtime_ns): what a run wrote or changed."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath, name)
            st_ = p.lstat()
            out[p.relative_to(root).as_posix()] = (st_.st_size, st_.st_mtime_ns)
    return out


@contextlib.contextmanager
def sandbox() -> Iterator[Path]:
    """A fresh folder as the working directory, holding the cache, checkpoint and run roots, so
    that whatever a parse writes lands in it (and can be listed), never in the user's files."""
    old_cwd, old_env = os.getcwd(), dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        root = Path(tmp)
        os.environ.update({"EXPLORER_CACHE_DIR": str(root / "cache"),
                           "EXPLORER_CHECKPOINTS": str(root / "checkpoints"), "EXPLORER_CHECKPOINTS_ONLY": "1",
                           "EXPLORER_RUNS_DIR": str(root / "runs")})
        os.environ.pop("EXPLORER_DATA_DIR", None)
        os.chdir(root)
        try:
            yield root
        finally:
            os.chdir(old_cwd)
            os.environ.clear()
            os.environ.update(old_env)


def assert_wrote_only(root: Path, before: dict, allowed: Callable[[str], bool]) -> None:
    """Every file under `root` that is new or changed since `before` passes `allowed`; no
    temporary file (an atomic writer's `.tmp-`) is left behind."""
    after = files_under(root)
    changed = sorted(p for p, sig in after.items() if before.get(p) != sig)
    stray = [p for p in changed if not allowed(p) or ".tmp-" in p]
    assert not stray, f"files written outside the output asked for: {stray}"


# ---------------------------------------------------------------- strategies

# Nesting stays shallow: deep nesting (RecursionError in the JSON parser) is bounded by the
# size/depth checks of issue 17's class 2, tested in its own tests.
JSON_LEAVES = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
               | st.text(max_size=20))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=16)


@st.composite
def mutated(draw, valid: dict, keys: tuple[str, ...] = ()) -> dict:
    """`valid` with a few of its values (at any depth) replaced by arbitrary JSON, deleted, or
    given an extra key: inputs near the real thing, where the parsers' checks are."""
    out = _copy(valid)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(out) or [()]))
        parent, last = _walk(out, path[:-1]), path[-1] if path else None
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if last is None or not isinstance(parent, (dict, list)):
            return draw(JSON_VALUES) if action == "replace" else out
        if action == "replace":
            parent[last] = draw(JSON_VALUES)
        elif action == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(keys) if keys else st.text(max_size=12))] = draw(JSON_VALUES)
    return out


def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _paths(value, prefix=()) -> list[tuple]:
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    out = []
    for k, v in items:
        out.append(prefix + (k,))
        out += _paths(v, prefix + (k,))
    return out


def _walk(value, path):
    for k in path:
        value = value[k]
    return value


# ---------------------------------------------------------------- .npy files

# Declared sizes stay below this: a header declaring far more than the file holds is issue 17's
# class 3 (a declared size checked against the bytes there), with its own tests.
MAX_ELEMENTS = 1_000_000
DESCRS = ["<f4", "<f8", "|u1", "<i8", ">f4", "|b1", "<U5", "|O", "V3", "<c8", "<M8[s]", "", "x"]


@st.composite
def npy_bytes(draw) -> bytes:
    """A .npy file: magic, version, header length, a dict literal (fuzzed descr, order, shape), data."""
    shape = tuple(draw(st.lists(st.integers(0, 40), max_size=4)))
    if np.prod(shape, dtype=np.int64) > MAX_ELEMENTS:
        shape = (1,)
    descr = draw(st.text(max_size=6)) if draw(st.integers(0, 5)) == 0 else draw(st.sampled_from(DESCRS))
    header = "{" + f"'descr': {descr!r}, 'fortran_order': {draw(st.booleans())}, 'shape': {shape!r}, " + "}"
    if draw(st.integers(0, 5)) == 0:
        header = draw(st.text(max_size=60))
    body = header.encode("utf-8", "surrogatepass")
    version = draw(st.sampled_from([(1, 0), (2, 0), (3, 0)]))
    if draw(st.integers(0, 5)) == 0:
        version = draw(st.tuples(st.integers(0, 255), st.integers(0, 255)))
    size_field = struct.pack("<H" if version[0] == 1 else "<I", min(len(body), 65535))
    if draw(st.integers(0, 5)) == 0:
        size_field = draw(st.binary(min_size=2, max_size=4))
    itemsize = np.dtype(descr).itemsize if descr in DESCRS[:6] else 4
    n = int(np.prod(shape, dtype=np.int64)) * itemsize
    data = bytes(n) if draw(st.integers(0, 3)) else draw(st.binary(max_size=64))
    if draw(st.integers(0, 3)) == 0:
        data = data[:draw(st.integers(0, len(data)))]
    return b"\x93NUMPY" + bytes(version) + size_field + body + data
