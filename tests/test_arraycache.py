"""The disk cache of test-set arrays (explorer/core/arraycache.py): it gives back what was computed
and never a stale or broken file, and with it a second start draws the Map page without torch."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.core import arraycache
from fresh_python import last_line


def test_array_cache_gives_back_what_was_computed_and_computes_once(tmp_path):
    calls = []
    a, b = np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6)

    def compute():
        calls.append(1)
        return a, b

    dkey = arraycache.data_key(np.zeros((6, 1, 2, 2), np.float32), np.arange(6))
    first = arraycache.arrays("encode", "model@1", dkey, compute, root=tmp_path, rows=6)
    again = arraycache.arrays("encode", "model@1", dkey, compute, root=tmp_path, rows=6)
    assert len(calls) == 1
    for x, y, z in zip(first, again, (a, b)):
        np.testing.assert_array_equal(x, z)
        np.testing.assert_array_equal(y, z)
        assert y.dtype == z.dtype


def test_array_cache_misses_on_new_weights_new_data_or_a_broken_file(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return (np.full(4, len(calls), dtype=np.float32),)

    images = np.zeros((4, 1, 2, 2), np.float32)
    dkey = arraycache.data_key(images)
    arraycache.arrays("classify", "clf@1", dkey, compute, root=tmp_path)
    arraycache.arrays("classify", "clf@2", dkey, compute, root=tmp_path)             # retrained
    arraycache.arrays("classify", "clf@1", arraycache.data_key(images + 1), compute, root=tmp_path)  # other images
    assert len(calls) == 3
    path = arraycache.cache_path("classify", "clf@1", dkey, tmp_path)
    path.write_bytes(b"not an npz")  # a truncated or foreign file is a miss, and is rewritten
    (out,) = arraycache.arrays("classify", "clf@1", dkey, compute, root=tmp_path)
    assert len(calls) == 4 and out[0] == 4
    (out,) = arraycache.arrays("classify", "clf@1", dkey, compute, root=tmp_path, rows=5)  # wrong length: a miss
    assert len(calls) == 5


def test_array_cache_still_answers_when_it_cannot_write(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache directory should be")
    (out,) = arraycache.arrays("encode", "m", "d", lambda: (np.ones(3),), root=blocked)
    np.testing.assert_array_equal(out, np.ones(3))


@pytest.mark.slow  # the whole app, twice, each in a fresh interpreter
def test_the_map_page_draws_its_first_map_without_importing_torch(tmp_path):
    """torch takes 1.5-2 s to import here: from a checkpoint's second start on (its test-set
    codes and predictions in the array cache), the Map page draws from the cache and leaves
    torch to the prefetch after it. An overlay that asked for the classifier model just to see
    whether there is one had put torch back on that path."""
    code = ("import sys\n"
            "from streamlit.testing.v1 import AppTest\n"
            "at = AppTest.from_file('explorer/app.py', default_timeout=300)\n"
            "at.run()\n"
            "torch_loaded = 'torch' in sys.modules\n"
            "assert not at.exception, [e.value for e in at.exception]\n"
            "assert [c for c in at.get('component_instance') if c.proto.component_name.endswith('mapchart.map')], "
            "'no map drawn'\n"
            "print(torch_loaded)\n")
    env = {"EXPLORER_CACHE_DIR": str(tmp_path / "cache")}
    # the first start encodes the test set (torch): it fills the cache
    seen = [last_line(code, env, timeout=300) for _start in ("first", "second")]
    assert seen[1] == "False", seen
