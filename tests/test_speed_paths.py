"""The speed work outside the array cache: reading checkpoints for the sidebar does not import
torch, and the timing log records calls only when asked."""
from __future__ import annotations

import json

import pytest

from fresh_python import last_line


@pytest.mark.slow  # a fresh interpreter
def test_listing_and_describing_checkpoints_does_not_import_torch():
    code = ("import sys\n"
            "from explorer.checkpoints import catalog\n"
            "from explorer.checkpoints import load_checkpoint\n"
            "entries = catalog.scan([catalog.Path('checkpoints')])\n"
            "ck = load_checkpoint('checkpoints/fashion-mnist/vae-16d', with_model=False)\n"
            "assert ck.kind == 'vae' and ck.model is None and entries\n"
            "print('torch' in sys.modules)\n")
    assert last_line(code) == "False"


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
