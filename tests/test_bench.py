"""`python -m explorer bench`: its output is valid JSON with its figures, targets and reasons for
what it skipped, its groups are checked, and its targets are judged from the figures. No timings
are asserted: the bench is where the numbers live."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from explorer.tooling.bench import GROUPS, TARGETS, judge, parse_only, table
from explorer.tooling.harness import REPO, repo_env


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "explorer", *args], cwd=REPO, capture_output=True, text=True,
                          env=repo_env(env), timeout=600)


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


@pytest.mark.slow  # starts a process
def test_bench_names_an_unknown_group():
    done = run_cli("bench", "--only", "map,warp")
    assert done.returncode == 2
    assert "warp" in done.stderr and "choose from" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow  # starts a process
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
