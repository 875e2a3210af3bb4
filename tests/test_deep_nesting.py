"""Fault class 2, structured files nested or sized beyond reason: every JSON file the app reads
goes through explorer/core/jsonfile.read_json, bounded in size and depth, and any failure of the
parser (RecursionError included) ends in the layer's own error with a message, never a traceback.

The case of the issue: a config.json of 100,000 nested arrays, through load_checkpoint, the CLI
(`evaluate --checkpoint`) and the catalog listing; then metrics.json, a run's spec and status,
and the reader's own limits (size, a named pipe, bytes that are not UTF-8, the exact depth bound).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from explorer.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from explorer.checkpoints.catalog import scan
from explorer.cli import main
from explorer.core.errors import ExplorerError
from explorer.core.jsonfile import MAX_DEPTH, nesting_depth, parse_json, read_json
from explorer.core.state import TrainState
from explorer.training import jobs
from helpers import tiny_model, tiny_model_cfg, tiny_train_cfg

pytestmark = pytest.mark.usefixtures("explorer_env")

DEEP = "[" * 100_000 + "]" * 100_000


def save_tiny(path: Path) -> Path:
    return save_checkpoint(path, tiny_model("vae", latent_dim=2, num_classes=10), tiny_model_cfg("vae"),
                           tiny_train_cfg(), "digits", TrainState(epoch=1))


@pytest.fixture
def deep_checkpoint(tmp_path) -> Path:
    path = save_tiny(tmp_path / "root" / "digits" / "deep")
    (path / "config.json").write_text(DEEP, encoding="utf-8")
    return path


def test_deep_config_is_a_checkpoint_error_from_load_checkpoint(deep_checkpoint):
    for with_model in (True, False):
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(deep_checkpoint, with_model=with_model)
        assert str(deep_checkpoint / "config.json") in str(e.value) and "100000 levels" in str(e.value)


def test_deep_config_is_one_line_and_exit_2_from_the_cli(deep_checkpoint, capsys):
    code = main(["evaluate", "--checkpoint", str(deep_checkpoint), "--iwae-k", "2"])
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    assert str(deep_checkpoint / "config.json") in err and "nests" in err
    assert len(err.strip().splitlines()) == 1


def test_deep_config_is_listed_unreadable_in_the_catalog(deep_checkpoint):
    good = save_tiny(deep_checkpoint.parent / "good")
    entries = {e.name: e for e in scan([deep_checkpoint.parents[1]])}
    assert entries["deep"].label == "deep (unreadable)" and "nests" in entries["deep"].problem
    assert entries[good.name].kind == "vae", "the rest of the catalogue is listed as before"


def test_deep_metrics_are_figures_not_there(tmp_path):
    path = save_tiny(tmp_path / "vae")
    (path / "metrics.json").write_text(DEEP, encoding="utf-8")
    assert load_checkpoint(path, with_model=False).metrics == {}


def test_deep_run_spec_and_status(tmp_path):
    run_dir = tmp_path / "runs" / "20250101-000000-abcdef"
    run_dir.mkdir(parents=True)
    (run_dir / jobs.SPEC_FILE).write_text(DEEP, encoding="utf-8")
    (run_dir / jobs.STATUS_FILE).write_text(DEEP, encoding="utf-8")
    assert jobs.read_status(run_dir) == {}
    with pytest.raises(jobs.JobError, match="no run"):
        jobs.get(run_dir.name, tmp_path / "runs")
    assert jobs.list_runs(tmp_path / "runs") == [], "a damaged run is left out of the list, not a crash"
    with pytest.raises(jobs.JobError, match="nests"):
        jobs.JobSpec.from_json(DEEP)


# ---------------------------------------------------------------- the reader's own bounds

def test_depth_is_counted_without_recursion_and_strings_do_not_nest():
    assert nesting_depth(DEEP) == 100_000
    assert nesting_depth('{"a": "[[[[{{\\"", "b": [1, {"c": []}]}') == 4
    assert nesting_depth("3") == 0
    assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH, what="x") is not None
    with pytest.raises(ExplorerError, match="nests 65 levels"):
        parse_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), what="x")


@pytest.mark.parametrize("case, write, words", [
    ("too large", lambda p: p.write_text("[" + "0," * 600 + "0]"), "too large"),
    ("not utf-8", lambda p: p.write_bytes(b'{"a": "\xff\xfe"}'), "not UTF-8"),
    ("not json", lambda p: p.write_text("{ this is not json"), "not valid JSON"),
    ("a folder", lambda p: p.mkdir(), "not a regular file"),
    ("a named pipe", lambda p: os.mkfifo(p), "not a regular file"),
    ("missing", lambda p: None, "cannot be read"),
])
def test_read_json_turns_every_failure_into_the_callers_error(tmp_path, case, write, words):
    path = tmp_path / "x.json"
    write(path)
    with pytest.raises(CheckpointError) as e:
        read_json(path, what="a checkpoint config", max_bytes=1000, error=CheckpointError)
    assert str(path) in str(e.value) and words in str(e.value)
