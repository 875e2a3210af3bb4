"""`python -m explorer bench` and the speed work behind it: the bench's output is valid JSON with
its figures, targets and reasons for what it skipped; the disk cache of test-set arrays gives
back what was computed and never a stale or broken file; reading checkpoints for the sidebar
does not import torch. No timings are asserted: the bench is where the numbers live."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from explorer.core import arraycache
from explorer.tooling.bench import GROUPS, TARGETS, judge, parse_only, table
from fresh_python import last_line
from helpers import REPO


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "explorer", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, timeout=600)


@pytest.mark.slow
def test_quick_bench_prints_json_with_figures_targets_and_skips(tmp_path):
    out = tmp_path / "bench.json"
    done = run_cli("bench", "--quick", "--only", "cached,gpu", "--repeats", "1", "--out", str(out),
                   env={"EXPLORER_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # stdout is the JSON object alone; the table goes to stderr
    assert json.loads(out.read_text()) == result
    assert set(result) >= {"figures", "targets", "skipped", "settings", "machine", "details"}
    assert result["settings"] == {"groups": ["cached", "gpu"], "repeats": 1, "quick": True}
    assert result["figures"]["projection_cached_s"] >= 0
    assert result["targets"]["projection_cached_s"]["target"] == "< 0.2"
    assert result["details"]["projection_cached"]["method"] == "pca"  # --quick maps with PCA
    # without CUDA, the GPU figure says why it is missing (the users group is test_load.py's, in full)
    figures_or_skipped = set(result["figures"]) | set(result["skipped"])
    assert "gpu_train_epoch_s" in figures_or_skipped
    for reason in result["skipped"].values():
        assert len(reason) > 10
    assert len(result["machine"]["load_average_start"]) == 3
    assert "projection_cached_s" in done.stderr and "load average" in done.stderr


@pytest.mark.slow  # a fresh interpreter
def test_bench_names_an_unknown_group():
    done = run_cli("bench", "--only", "map,warp")
    assert done.returncode == 2
    assert "warp" in done.stderr and "choose from" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow  # a fresh interpreter
def test_bench_rejects_zero_repeats():
    done = run_cli("bench", "--repeats", "0", "--only", "cached")
    assert done.returncode == 2 and "--repeats" in done.stderr


def test_parse_only_keeps_the_bench_order():
    assert parse_only(None) == list(GROUPS)
    assert parse_only("train, projection") == ["projection", "train"]
    with pytest.raises(ValueError, match="nope"):
        parse_only("nope")


def test_targets_are_judged_from_the_figures_and_shown_in_the_table():
    figures = {"time_to_map_ratio": 1.2, "slider_server_ms": 45.0, "projection_umap_s": 5.0,
               "projection_umap_speedup": 4.0, "projection_umap_trust": 0.97, "baseline_umap_trust": 0.98}
    judged = judge(figures)
    assert judged["time_to_map_ratio"]["met"] is True
    assert judged["slider_server_ms"]["met"] is False
    assert judged["projection_umap_s"]["met"] is False  # faster, but less trustworthy than the baseline
    assert set(judged) <= set(TARGETS)
    text = table({"figures": figures, "targets": judged, "skipped": {"gpu_train_epoch_s": "no CUDA device"},
                  "machine": {"load_average_start": [1.0, 1.0, 1.0], "load_average_end": [2.0, 1.0, 1.0], "cpus": 2,
                              "seconds": 3.0}})
    lines = text.splitlines()
    assert any(line.startswith("time_to_map_ratio") and line.rstrip().endswith("yes") for line in lines)
    assert any(line.startswith("slider_server_ms") and line.rstrip().endswith("NO") for line in lines)
    assert any("gpu_train_epoch_s" in line and "no CUDA device" in line for line in lines)


# ---------------------------------------------------------------- the array cache

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


# ---------------------------------------------------------------- what a start imports

@pytest.mark.slow  # a fresh interpreter
def test_listing_and_describing_checkpoints_does_not_import_torch():
    code = ("import sys\n"
            "from explorer.ui import catalog\n"
            "from explorer.checkpoints import load_checkpoint\n"
            "entries = catalog.scan([catalog.Path('checkpoints')])\n"
            "ck = load_checkpoint('checkpoints/fashion-mnist/vae-16d', with_model=False)\n"
            "assert ck.kind == 'vae' and ck.model is None and entries\n"
            "print('torch' in sys.modules)\n")
    assert last_line(code) == "False"


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
            "assert at.get('plotly_chart'), 'no map drawn'\n"
            "print(torch_loaded)\n")
    env = {"EXPLORER_CACHE_DIR": str(tmp_path / "cache")}
    # the first start encodes the test set (torch): it fills the cache
    seen = [last_line(code, env, timeout=300) for _start in ("first", "second")]
    assert seen[1] == "False", seen


def test_one_image_runs_on_one_thread_and_the_thread_count_comes_back():
    import torch

    from explorer.analysis import latent

    before = torch.get_num_threads()
    seen = []
    with latent._threads_for(1):
        seen.append(torch.get_num_threads())
    with latent._threads_for(latent.SMALL_BATCH + 1):
        seen.append(torch.get_num_threads())
    assert seen == [1, before]
    assert torch.get_num_threads() == before


def test_timing_log_records_each_call_only_when_asked(tmp_path, monkeypatch):
    from explorer.ui.timing import LOG_ENV, timed

    @timed("demo")
    def work(x):
        return x * 2

    monkeypatch.delenv(LOG_ENV, raising=False)
    assert work(2) == 4
    log = tmp_path / "t.jsonl"
    monkeypatch.setenv(LOG_ENV, str(log))
    assert work(3) == 6 and work(4) == 8
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["name"] for line in lines] == ["demo", "demo"]
    assert all(line["ms"] >= 0 for line in lines)
