"""The one atomic writer (explorer/core/atomic.py) and the disk cache's reads and writes on it."""
from __future__ import annotations

import json
import stat

import numpy as np
import pytest

from explorer.core import atomic, diskcache


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "f.json"
    atomic.write_json(path, {"b": float("nan"), "a": [1, float("inf")]})
    assert json.loads(path.read_text()) == {"a": [1, None], "b": None}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644          # for every user to read
    assert [p.name for p in path.parent.iterdir()] == ["f.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "f.txt"
    atomic.write_text(path, "old")
    with pytest.raises(RuntimeError), atomic.replacing(path, "w") as f:
        f.write("half")
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".f.txt.tmp-")]  # .gitignore: .*.tmp-*
        raise RuntimeError("interrupted")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_cache_files_round_trip_and_a_bad_one_is_a_miss(tmp_path):
    diskcache.write_npz(tmp_path / "a.npz", {"x": np.arange(3)})
    diskcache.write_npy(tmp_path / "b.npy", np.ones((2, 2), np.uint8))
    assert np.array_equal(diskcache.read_npz(tmp_path / "a.npz")["x"], np.arange(3))
    assert np.array_equal(diskcache.read_npy(tmp_path / "b.npy"), np.ones((2, 2)))
    np.savez(tmp_path / "pickled.npz", x=np.array([{"a": 1}], dtype=object))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    for bad in ("pickled.npz", "junk.npz", "missing.npz"):
        assert diskcache.read_npz(tmp_path / bad) is None
    assert diskcache.read_npy(tmp_path / "junk.npz") is None


def test_keys_hash_their_parts_in_order():
    assert diskcache.key("a", b"b") == diskcache.key(b"ab") != diskcache.key("b", "a")
    assert diskcache.key({"b": 1, "a": 2}) == diskcache.key('{"a": 2, "b": 1}')
    assert len(diskcache.key("x", length=20)) == 20
    assert len(diskcache.key("x", hasher=diskcache.blake2b_64)) == 16
