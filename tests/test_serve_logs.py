"""The logs in `python -m explorer serve`'s run folder: each run starts fresh ones and keeps the
run before's once (supervisor.keep_previous_logs)."""
from __future__ import annotations

from pathlib import Path

from explorer.cli.serve import supervisor


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(text)


def contents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir()}


def test_a_new_run_keeps_the_previous_runs_logs_once_and_starts_fresh_ones(tmp_path):
    write(tmp_path, {"haproxy.log": "last run's balancer\n", "r0.log": "last run's r0\n", "r1.log": "last run's r1\n",
                     "haproxy.log.1": "older balancer\n", "r0.log.1": "older r0\n",
                     "r3.log.1": "a replica of an older run with more of them\n",
                     "haproxy.cfg": "# config\n", "state.json": "{}", "notes.txt": "the teacher's own notes\n"})
    supervisor.keep_previous_logs(tmp_path)
    assert contents(tmp_path) == {
        "haproxy.log.1": "last run's balancer\n", "r0.log.1": "last run's r0\n", "r1.log.1": "last run's r1\n",
        "haproxy.cfg": "# config\n", "state.json": "{}", "notes.txt": "the teacher's own notes\n"}


def test_a_folder_without_new_logs_keeps_its_old_ones(tmp_path):
    # the run before was refused before it started (HAProxy refused its configuration): it wrote no
    # logs, and the ones of the run before it are still the previous run's
    write(tmp_path, {"haproxy.log.1": "balancer\n", "r0.log.1": "r0\n", "haproxy.cfg": "# config\n"})
    supervisor.keep_previous_logs(tmp_path)
    assert contents(tmp_path) == {"haproxy.log.1": "balancer\n", "r0.log.1": "r0\n", "haproxy.cfg": "# config\n"}
    supervisor.keep_previous_logs(tmp_path)  # and again: still nothing lost
    assert set(contents(tmp_path)) == {"haproxy.log.1", "r0.log.1", "haproxy.cfg"}
