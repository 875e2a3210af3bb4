"""Interrupted work: real training runs (`python -m explorer train`) killed with SIGKILL at random
moments, again and again, and a disk that fills up while a checkpoint is being saved.

After every kill the checkpoint either does not exist yet or loads, at an epoch no earlier than
the last one seen: never a broken one. What the killed saves leave behind is cleaned up by the
next load. A full disk (a real, small tmpfs, mounted when the tests run as root) stops training
with one clear line, and the previous checkpoint survives whole.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from explorer.checkpoints import CheckpointError, list_checkpoints, load_checkpoint
from helpers import REPO

KILLS = 10
SEED = 20261122
TINY = ["--kind", "vae", "--dataset", "digits", "--channels", "4,8", "--hidden", "16", "--latent-dim", "2",
        "--batch-size", "64", "--device", "cpu", "--threads", "1", "--quiet", "--no-evaluate"]

pytestmark = pytest.mark.slow


def train_cmd(root: Path, name: str, epochs: int, resume: bool) -> list[str]:
    return [sys.executable, "-m", "explorer", "train", *TINY, "--epochs", str(epochs), "--out-dir", str(root),
            "--name", name, *(["--resume"] if resume else [])]


def env_for(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "EXPLORER_CACHE_DIR": str(tmp_path / "cache")}


def test_sigkill_at_random_moments_never_leaves_a_broken_checkpoint(tmp_path):
    root, name = tmp_path / "ckpts", "vae-killed"
    path = root / "digits" / name
    rng = random.Random(SEED)
    seen_epoch, loaded, absent, kill_log = 0, 0, 0, []
    for i in range(KILLS):
        before = _identity(path)
        proc = subprocess.Popen(train_cmd(root, name, 10_000, resume=path.exists()), cwd=REPO, env=env_for(tmp_path),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Two kills in three land while it trains: a random moment within ~2 s after this run's
        # first save, which spans several epochs and their saves. The third lands anywhere from
        # start-up (importing torch) on.
        if i % 3 != 2 and _wait_for_a_save(path, before, proc):
            delay = rng.uniform(0.0, 2.0)
            moment = "training"
        else:
            delay = rng.uniform(0.2, 6.0)
            moment = "anywhere"
        time.sleep(delay)
        assert proc.poll() is None, f"training ended by itself: {proc.stderr.read().decode()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        if not path.exists() and not list(path.parent.glob(f".{name}.old-*")):
            absent += 1
            kill_log.append((moment, round(delay, 2), None))
            continue
        caught_saving = [p.name.split(".")[2].split("-")[0] for p in path.parent.iterdir()
                         if p.name.startswith(f".{name}.")]  # "tmp" / "old": a save was under way
        try:
            ckpt = load_checkpoint(path, with_optimizer=True)  # puts back an interrupted save's old copy
        except CheckpointError as e:
            pytest.fail(f"kill {i + 1} after {delay:.2f} s left a checkpoint that does not load: {e}")
        assert ckpt.state.epoch >= seen_epoch, "a kill took the checkpoint back to an earlier epoch"
        assert ckpt.extra["optimizer_state"] is not None, "the optimiser state (for --resume) is missing"
        seen_epoch = ckpt.state.epoch
        loaded += 1
        kill_log.append((moment, round(delay, 2), ckpt.state.epoch, *caught_saving))
        leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(f".{name}.")]
        assert leftovers == [], f"what killed saves left behind was not cleaned up: {leftovers}"
    print(f"{KILLS} kills (when, delay s, epoch on disk after, leftovers of a save under way): {kill_log}")
    assert loaded >= KILLS // 2 and seen_epoch > 1, kill_log
    assert list_checkpoints(root) == [path]

    # And the run resumes from where the last kill left it.
    proc = subprocess.run(train_cmd(root, name, seen_epoch + 1, resume=True), cwd=REPO, env=env_for(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"resuming {path} from epoch {seen_epoch}" in proc.stdout
    assert load_checkpoint(path).state.epoch == seen_epoch + 1


def _identity(path: Path) -> tuple[int, int] | None:
    """What tells one saved checkpoint from the next: a save renames a new directory into place."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _wait_for_a_save(path: Path, before, proc: subprocess.Popen, timeout_s: float = 120.0) -> bool:
    """Wait until the run has saved at least once (True), or has ended or taken too long (False)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and proc.poll() is None:
        now = _identity(path)
        if now is not None and now != before:
            return True
        time.sleep(0.02)
    return False


def test_leftovers_of_killed_saves_are_removed_on_load_but_not_those_of_a_live_save(tmp_path):
    from explorer.checkpoints import save_checkpoint
    from explorer.core.state import TrainState
    from helpers import tiny_model_cfg, tiny_train_cfg
    from explorer.models import build_model

    cfg = tiny_model_cfg("vae")
    path = save_checkpoint(tmp_path / "c", build_model(cfg), cfg, tiny_train_cfg(), "digits", TrainState())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for leftover in (f".c.tmp-{dead.pid}-abc", f".c.old-{dead.pid}-123", f".c.tmp-{os.getppid()}-live",
                     ".c.tmp-nopid"):
        shutil.copytree(path, tmp_path / leftover)
    load_checkpoint(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".c.tmp-nopid", f".c.tmp-{os.getppid()}-live", "c"])


# ---------------------------------------------------------------- a full disk

@pytest.fixture
def small_disk(tmp_path):
    """A real filesystem with little room: a tmpfs mounted for the test (needs root)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root and mount(8); the full-disk test runs as root")
    where = tmp_path / "small-disk"
    where.mkdir()
    size_kb = 96

    def mount() -> None:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(where)], check=True,
                       capture_output=True)

    try:
        mount()
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot mount a tmpfs here ({e.stderr.decode().strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def fill(where: Path, leave_bytes: int) -> None:
    """Fill a filesystem until only about `leave_bytes` are free."""
    st = os.statvfs(where)
    free = st.f_bavail * st.f_frsize
    with open(where / "ballast", "wb") as f:
        f.write(b"\0" * max(0, free - leave_bytes))


def test_a_full_disk_while_saving_is_a_clear_error_and_the_old_checkpoint_survives(tmp_path, small_disk):
    root, name = small_disk / "ckpts", "vae-full"
    path = root / "digits" / name
    first = subprocess.run(train_cmd(root, name, 1, resume=False) + ["--slim"], cwd=REPO, env=env_for(tmp_path),
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    size = sum(len(b) for b in before.values())
    fill(small_disk, leave_bytes=size // 2)  # room for half a checkpoint: the next save cannot finish

    proc = subprocess.run(train_cmd(root, name, 3, resume=True) + ["--slim"], cwd=REPO, env=env_for(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"error: could not save the checkpoint at epoch 2 to {path}: "), proc.stderr
    assert "No space left on device" in proc.stderr and "the checkpoint there is unchanged (epoch 1)." in proc.stderr
    assert "--resume" in proc.stderr
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before, "the old checkpoint changed"
    assert load_checkpoint(path).state.epoch == 1
    assert sorted(p.name for p in path.parent.iterdir()) == [name], "a half-written copy was left behind"

    (small_disk / "ballast").unlink()  # room again: the run resumes
    again = subprocess.run(train_cmd(root, name, 2, resume=True) + ["--slim"], cwd=REPO, env=env_for(tmp_path),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert load_checkpoint(path).state.epoch == 2
