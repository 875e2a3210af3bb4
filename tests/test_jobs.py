"""Background training runs (explorer.training.jobs): a real child process trains on digits.

Each test starts real `python -m explorer.training.jobs` processes; they are marked slow."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from explorer.checkpoints import load_checkpoint
from explorer.core.config import ModelConfig, TrainConfig
from explorer.training import jobs

pytestmark = pytest.mark.slow


def spec_for(out: Path, epochs: int = 2, kind: str = "vae", latent_dim: int = 2, **train) -> jobs.JobSpec:
    model = ModelConfig(kind=kind, image_shape=(1, 8, 8), num_classes=10, latent_dim=latent_dim,
                        channels=(4, 8), hidden=16, depth=0)
    cfg = TrainConfig(dataset="digits", epochs=epochs, batch_size=64, device="cpu", **train)
    return jobs.JobSpec(model=model.to_dict(), train=cfg.to_dict(), out=str(out), iwae_k=5, threads=1, nice=0)


def wait_for(run: jobs.Run, pred, timeout: float = 90.0) -> jobs.Run:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = jobs.get(run.id, run.dir.parent)
        if pred(run):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run.id} did not get there: {run.status}")


def test_a_run_trains_reports_progress_snapshots_and_evaluates(tmp_path):
    run = jobs.start(spec_for(tmp_path / "ck" / "digits" / "a", epochs=2), root=tmp_path / "runs")
    seen_steps = set()
    while run.active:
        seen_steps.add(int(run.status.get("step") or 0))
        time.sleep(0.05)
        run = jobs.get(run.id, tmp_path / "runs")
    assert run.state == "finished", run.status
    assert len(seen_steps) >= 2                          # progress advanced while we watched
    assert run.status["phase_done"] == 1.0               # the evaluation told its progress to the end
    assert [r["epoch"] for r in run.history] == [1, 2]
    assert {"train_recon", "train_kl", "test_recon", "test_kl"} <= set(run.history[0])
    assert run.status["metrics"]["neg_elbo"] > 0 and run.status["metrics"]["iwae_k"] == 5
    ckpt = load_checkpoint(run.out)
    assert ckpt.state.epoch == 2 and ckpt.metrics["neg_elbo"] == pytest.approx(run.status["metrics"]["neg_elbo"])
    assert f"{ckpt.metrics['neg_elbo']:.2f}" in (run.out / "README.md").read_text()  # the card has the figures
    assert jobs.snapshot_epochs(run) == [0, 1, 2]        # the untrained space, then every epoch
    snap = jobs.read_snapshot(run)
    assert snap["coords"].shape == (360, 2) and snap["recon"].shape == (8, 1, 8, 8)
    assert np.all((snap["recon"] >= 0) & (snap["recon"] <= 1))
    assert len(set(snap["labels"][:10].tolist())) > 1
    # the map moves as the model learns: epoch 2's codes are not epoch 0's
    assert not np.allclose(jobs.read_snapshot(run, 0)["coords"], snap["coords"])


def test_cancel_keeps_the_last_epoch_and_resume_goes_on(tmp_path):
    root = tmp_path / "runs"
    out = tmp_path / "ck" / "digits" / "long"
    run = jobs.start(spec_for(out, epochs=400, lr_schedule="constant"), root=root)
    run = wait_for(run, lambda r: int(r.status.get("epoch_done") or 0) >= 1)
    jobs.cancel(run)
    run = wait_for(run, lambda r: not r.active, timeout=60)
    assert run.state == "cancelled" and "keeps epoch" in run.status["message"]
    kept = load_checkpoint(out, with_optimizer=True)
    assert kept.state.epoch == run.status["epoch_done"] >= 1
    assert kept.extra.get("optimizer_state") is not None
    first_epoch, first_step = kept.state.epoch, kept.state.step

    again = jobs.start(jobs.JobSpec(**{**run.spec.__dict__, "resume": True}), root=root)
    again = wait_for(again, lambda r: int(r.status.get("epoch_done") or 0) >= first_epoch + 1)
    jobs.cancel(again)
    again = wait_for(again, lambda r: not r.active, timeout=30)
    resumed = load_checkpoint(out)
    assert resumed.state.epoch > first_epoch
    assert resumed.state.step == first_step + (resumed.state.epoch - first_epoch) * (1437 // 64)
    assert [r["epoch"] for r in resumed.state.history] == list(range(1, resumed.state.epoch + 1))


def test_refusals_say_what_to_do(tmp_path):
    root = tmp_path / "runs"
    out = tmp_path / "ck" / "digits" / "taken"
    out.mkdir(parents=True)
    with pytest.raises(jobs.JobError, match="already exists"):
        jobs.start(spec_for(out), root=root)
    with pytest.raises(jobs.JobError, match="no checkpoint to resume"):
        jobs.start(jobs.JobSpec(**{**spec_for(tmp_path / "nothing").__dict__, "resume": True}), root=root)
    bad = spec_for(tmp_path / "ck" / "digits" / "bad")
    bad.train["lr"] = 5.0
    with pytest.raises(jobs.JobError, match="lr"):
        jobs.start(bad, root=root)
    with pytest.raises(jobs.JobError):
        jobs.get("../etc", root)
    assert not root.exists() or not any(root.iterdir())  # nothing was started


def test_two_runs_at_once_stay_apart_and_a_third_waits(tmp_path):
    root = tmp_path / "runs"
    a = jobs.start(jobs.JobSpec(**{**spec_for(tmp_path / "ck" / "digits" / "a", epochs=300).__dict__, "owner": "s1"}),
                   root=root)
    b = jobs.start(jobs.JobSpec(**{**spec_for(tmp_path / "ck" / "digits" / "b", epochs=300, kind="hybrid",
                                              latent_dim=4).__dict__, "owner": "s2"}), root=root)
    try:
        with pytest.raises(jobs.JobError, match="at once"):
            jobs.start(spec_for(tmp_path / "ck" / "digits" / "c"), root=root)
        with pytest.raises(jobs.JobError, match="already training into"):
            jobs.start(spec_for(tmp_path / "ck" / "digits" / "a"), root=root)
        assert [r.id for r in jobs.list_runs(root, owner="s1")] == [a.id]
        assert [r.id for r in jobs.list_runs(root, owner="s2")] == [b.id]
        a = wait_for(a, lambda r: int(r.status.get("epoch_done") or 0) >= 1)
        b = wait_for(b, lambda r: int(r.status.get("epoch_done") or 0) >= 1)
        assert "train_acc" in b.history[0] and "train_acc" not in a.history[0]
        assert jobs.read_snapshot(a)["coords"].shape[1] == 2 and jobs.read_snapshot(b)["coords"].shape[1] == 2
    finally:
        jobs.cancel(a), jobs.cancel(b)
        wait_for(a, lambda r: not r.active), wait_for(b, lambda r: not r.active)
    assert load_checkpoint(a.out).kind == "vae" and load_checkpoint(b.out).kind == "hybrid"


def test_a_killed_run_is_reported_and_its_last_epoch_resumes(tmp_path):
    root = tmp_path / "runs"
    out = tmp_path / "ck" / "digits" / "killed"
    run = jobs.start(spec_for(out, epochs=300), root=root)
    run = wait_for(run, lambda r: int(r.status.get("epoch_done") or 0) >= 1)
    os.kill(int(run.status["pid"]), signal.SIGKILL)
    run = wait_for(run, lambda r: not r.active, timeout=30)
    assert run.state == "stopped" and "stopped unexpectedly" in run.status["message"]
    assert load_checkpoint(out).state.epoch >= 1


def test_cancel_while_measuring_ends_the_run_at_once_and_keeps_the_checkpoint(tiny_checkpoints, tmp_path):
    """Cancel pressed during the final evaluation: the run ends as cancelled, keeps its trained
    checkpoint, and writes no half-measured figures; without a cancel the figures are written."""
    import shutil

    from explorer.checkpoints.layout import METRICS_FILE
    from explorer.core.state import TrainState
    from explorer.training import worker

    out = tmp_path / "vae-2d"
    shutil.copytree(tiny_checkpoints / "digits" / "vae-2d", out)
    (out / METRICS_FILE).unlink(missing_ok=True)
    spec = spec_for(out, epochs=1)
    trained = TrainState(epoch=1, step=10, status="finished", message="trained")
    asked = []

    def stop_on_second_batch() -> bool:
        asked.append(1)
        return len(asked) > 1

    rep = worker._Reporter(tmp_path, {})
    assert worker._report_outcome(rep, spec, "vae", out, trained, should_stop=stop_on_second_batch) == 0
    assert rep.status["state"] == "cancelled" and "cancelled while measuring" in rep.status["message"]
    assert len(asked) == 2                                    # it stopped at the first batch after the cancel
    assert not (out / METRICS_FILE).exists()
    assert load_checkpoint(out, with_model=False).state.epoch >= 1
    assert worker._report_outcome(rep, spec, "vae", out, trained) == 0
    assert rep.status["state"] == "finished" and (out / METRICS_FILE).exists()
