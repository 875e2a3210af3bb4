"""The Train page (AppTest): its controls, a real run started from the page, cancel, resume,
two sessions apart, and the compare page. Runs train real (small) models on digits in a
child process, so these tests are marked slow."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.checkpoints import load_checkpoint
from explorer.training import jobs
from helpers import APP, texts


@pytest.fixture
def train_env(app_env, tiny_checkpoints, tmp_path, monkeypatch):
    """The app on a copy of the tiny checkpoints (runs write new ones into the first root; the
    session's own tiny checkpoints stay as every other test expects them)."""
    root = tmp_path / "checkpoints"
    shutil.copytree(tiny_checkpoints, root)
    monkeypatch.setenv("EXPLORER_CHECKPOINTS", str(root))
    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(tmp_path / "runs"))
    yield {**app_env, "EXPLORER_CHECKPOINTS": str(root), "EXPLORER_RUNS_DIR": str(tmp_path / "runs")}
    for run in jobs.list_runs(tmp_path / "runs"):  # no run outlives its test
        if run.active:
            jobs.cancel(run)
            jobs.wait(run, timeout=30)


def train_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["map_method"] = "pca"
    at.run()
    at.switch_page("ui/pages/train.py").run()
    assert not at.exception, at.exception
    return at


def name_box(at: AppTest):
    return next(t for t in at.text_input if t.key.startswith("tr_name"))


def start(at: AppTest, name: str, epochs: int, kind: str = "vae") -> jobs.Run:
    at.selectbox(key="tr_kind").set_value(kind).run()
    at.number_input(key="tr_epochs").set_value(epochs).run()
    name_box(at).set_value(name).run()
    at.button(key="tr_start").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    run_id = at.session_state["train_view"]
    return jobs.get(run_id)


def rerun_until(at: AppTest, run: jobs.Run, pred, timeout: float = 120) -> jobs.Run:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        run = jobs.get(run.id)
        if pred(run):
            at.run()  # the page as it is now, not as it was a moment before the run got there
            assert not at.exception, at.exception
            return run
        time.sleep(0.3)
    raise AssertionError(f"the run did not get there: {run.status}")


def test_the_page_offers_every_setting_with_sensible_defaults(train_env):
    at = train_page()
    assert at.selectbox(key="tr_dataset").value == "digits"
    assert at.selectbox(key="tr_kind").options == ["vae: plain VAE", "cvae: conditioned on the class",
                                                   "hybrid: VAE + classifier head",
                                                   "classifier: the CNN that judges images"]
    for key in ("tr_latent", "tr_beta", "tr_batch", "tr_lr"):
        assert at.select_slider(key=key) is not None
    assert at.number_input(key="tr_epochs").value == 10 and at.number_input(key="tr_seed").value == 0
    assert at.selectbox(key="tr_device").value == "auto"
    assert any("cpu" in o.lower() for o in at.selectbox(key="tr_device").options)
    assert name_box(at).value == "vae-2d-2"          # vae-2d exists already: never overwrite it
    assert "No run yet" in texts(at)
    assert at.selectbox(key="tr_size").value == "small" and at.selectbox(key="tr_size").disabled  # digits: one size
    if "fashion-mnist" in at.selectbox(key="tr_dataset").options:  # where its files are on this machine
        assert at.button(key="tr_quick").label == "Quick: 16-D vae, 3 epochs"
        at.selectbox(key="tr_dataset").set_value("fashion-mnist").run()
        assert not at.selectbox(key="tr_size").disabled
        at.selectbox(key="tr_dataset").set_value("digits").run()
    at.selectbox(key="tr_kind").set_value("hybrid").run()
    assert at.select_slider(key="tr_lambda").value == 10.0 and name_box(at).value == "hybrid-2d-lambda10"
    at.selectbox(key="tr_kind").set_value("classifier").run()
    assert not [s for s in at.select_slider if s.key in ("tr_latent", "tr_beta", "tr_lambda")]


def test_bad_settings_are_messages_and_start_nothing(train_env):
    at = train_page()
    name_box(at).set_value("../../etc").run()
    at.button(key="tr_start").click().run()
    assert "name may use letters" in "\n".join(e.value for e in at.error)
    name_box(at).set_value("vae-2d").run()        # the tiny fixture checkpoint already has this name
    at.button(key="tr_start").click().run()
    assert "already exists" in "\n".join(e.value for e in at.error)
    assert not jobs.list_runs()


@pytest.mark.slow
def test_train_from_the_page_watch_it_cancel_resume_and_open_it(train_env):
    at = train_page()
    run = start(at, "mine", epochs=300)
    assert at.query_params["run"] == run.id
    run = rerun_until(at, run, lambda r: int(r.status.get("epoch_done") or 0) >= 1)
    bar = at.get("progress")[0]
    assert "training epoch" in bar.proto.text and "the checkpoint keeps epoch" in bar.proto.text and bar.value > 0
    assert "Reconstruction (nats" in str([c.proto.spec for c in at.get("plotly_chart")])
    assert any("reconstructions" in cap for img in at.image for cap in img.captions)

    at.button(key=f"tr_cancel_{run.id}").click().run()
    run = rerun_until(at, run, lambda r: not r.active, timeout=30)
    assert run.state == "cancelled"
    assert "cancelled" in texts(at) and "keeps epoch" in texts(at)
    kept = load_checkpoint(run.out)
    assert kept.state.epoch >= 1

    at.button(key=f"tr_resume_{run.id}").click().run()
    resumed = jobs.get(at.session_state["train_view"])
    assert resumed.id != run.id and resumed.spec.resume
    resumed = rerun_until(at, resumed, lambda r: int(r.status.get("epoch_done") or 0) > kept.state.epoch)
    at.button(key=f"tr_cancel_{resumed.id}").click().run()
    resumed = rerun_until(at, resumed, lambda r: not r.active, timeout=30)
    assert load_checkpoint(run.out).state.epoch > kept.state.epoch
    assert at.session_state["train_runs"] == [resumed.id] and not at.radio  # one entry per checkpoint

    at.button(key=f"tr_open_{resumed.id}").click().run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="sb_vae").value == run.out   # the new model is the one explored
    at.switch_page("ui/pages/train.py").run()                    # coming back shows the runs again
    assert "mine" in texts(at) and at.session_state["train_view"] == resumed.id


@pytest.mark.slow
def test_two_sessions_train_at_once_without_mixing(train_env):
    a, b = train_page(), train_page()
    run_a = start(a, "from-a", epochs=300)
    run_b = start(b, "from-b", epochs=300, kind="hybrid")
    try:
        run_a = rerun_until(a, run_a, lambda r: int(r.status.get("epoch_done") or 0) >= 1)
        run_b = rerun_until(b, run_b, lambda r: int(r.status.get("epoch_done") or 0) >= 1)
        assert "from-a" in texts(a) and "from-b" not in texts(a)
        assert "from-b" in texts(b) and "from-a" not in texts(b)
        assert "Head accuracy" in str([c.proto.spec for c in b.get("plotly_chart")])
        assert "Head accuracy" not in str([c.proto.spec for c in a.get("plotly_chart")])
        assert a.session_state["train_runs"] == [run_a.id] and b.session_state["train_runs"] == [run_b.id]
    finally:
        jobs.cancel(run_a), jobs.cancel(run_b)
        jobs.wait(run_a), jobs.wait(run_b)


@pytest.mark.slow
def test_a_link_with_the_run_reopens_it_in_a_new_session(train_env):
    at = train_page()
    run = start(at, "linked", epochs=1)
    jobs.wait(run, timeout=120)
    other = AppTest.from_file(str(APP), default_timeout=60)
    other.query_params["run"] = run.id
    other.run()
    other.switch_page("ui/pages/train.py").run()
    assert "linked" in texts(other) and "Finished" in texts(other)


def test_compare_shows_two_checkpoints_side_by_side(train_env):
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["map_method"] = "pca"
    at.run()
    at.switch_page("ui/pages/compare.py").run()
    assert not at.exception, at.exception
    a, b = at.selectbox(key="cmp_a"), at.selectbox(key="cmp_b")
    assert a.value != b.value
    table = at.dataframe[0].value
    assert list(table.index[:3]) == ["kind", "latent dimensions", "beta"] and table.shape[1] == 2
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(specs) >= 3 and "collapsed below this" in specs[2]
    b.set_value(Path(train_env["EXPLORER_CHECKPOINTS"]) / "digits" / "hybrid-10d").run()
    assert "hybrid" in at.dataframe[0].value.to_string()


# ---------------------------------------------------------------- the settings, without the page

def _settings(**changes):
    from explorer.training.settings import TrainSettings

    values = dict(dataset="digits", kind="hybrid", latent_dim=2, beta=1.0, cls_weight=10.0, epochs=3,
                  batch_size=64, lr=1e-3, seed=0, device="cpu", name="  hybrid-2d  ")
    return TrainSettings(**{**values, **changes})


def test_settings_become_the_job_that_trains_them(tmp_path):
    from explorer.training.settings import job_spec

    (tmp_path / "digits" / "classifier").mkdir(parents=True)
    spec = job_spec(_settings(), tmp_path, [], owner="me")
    assert spec.out == str(tmp_path / "digits" / "hybrid-2d")          # the name, stripped
    assert spec.model["kind"] == "hybrid" and spec.model["latent_dim"] == 2 and spec.model["cls_weight"] == 10.0
    assert spec.model["depth"] == 0 and spec.train["epochs"] == 3 and spec.train["batch_size"] == 64
    assert spec.classifier == str(tmp_path / "digits" / "classifier") and spec.owner == "me" and spec.iwae_k == 20
    assert job_spec(_settings(), tmp_path, [Path("/x/clf")], owner="me").classifier == "/x/clf"  # first usable one
    assert job_spec(_settings(dataset="digits"), tmp_path / "none", [], owner="").classifier is None


@pytest.mark.parametrize("changes, message", [
    ({"name": "../../etc"}, "name may use letters"),
    ({"name": ""}, "name may use letters"),
    ({"epochs": 0}, "cannot be trained"),
])
def test_unsound_settings_are_a_message(changes, message, tmp_path):
    from explorer.training.settings import SettingsError, job_spec

    with pytest.raises(SettingsError, match=message):
        job_spec(_settings(**changes), tmp_path, [], owner="")


def test_every_size_and_the_quick_preset_are_trainable(tmp_path):
    import dataclasses

    from explorer.training.jobs import validate
    from explorer.training.settings import QUICK, SettingsError, job_spec

    quick = job_spec(QUICK, tmp_path, [], owner="")
    assert quick.model["latent_dim"] == 16 and quick.model["depth"] == 0 and quick.train["epochs"] == 3
    validate(quick)
    full = job_spec(dataclasses.replace(QUICK, size="full"), tmp_path, [], owner="")
    assert full.model["depth"] == 1 and full.model["channels"] == [32, 64]
    with pytest.raises(SettingsError, match="Unknown network size"):
        job_spec(dataclasses.replace(QUICK, size="huge"), tmp_path, [], owner="")


RUNNING = {"state": "running", "epochs": 40, "epoch": 12, "epoch_done": 11, "step": 1100, "total_steps": 4000,
           "images_per_s": 900.0, "eta_s": 125, "phase": "training"}


@pytest.mark.parametrize("changes, words", [
    ({}, ["training epoch 12 of 40; the checkpoint keeps epoch 11", "900 images/s", "2 min 05 s left"]),
    ({"images_per_s": None}, ["training epoch 12 of 40", "starting..."]),
    ({"images_per_s": 0.0}, ["starting..."]),
    ({"phase": "saving"}, ["saving the checkpoint"]),
    ({"epoch": 1, "epoch_done": 0}, ["training epoch 1 of 40; no checkpoint yet"]),
    ({"state": "cancelled"}, ["cancelled after epoch 11 of 40; the checkpoint keeps epoch 11"]),
    ({"state": "evaluating", "phase_done": 0.5, "eta_s": 30}, ["measuring the test-set figures", "50%", "30 s left"]),
    ({"state": "evaluating", "phase_done": 0.0, "eta_s": None}, ["estimating the time left"]),
])
def test_the_progress_line_says_where_a_run_is(changes, words):
    from explorer.training.jobs import progress_text

    frac, text = progress_text({**RUNNING, **changes})
    assert 0.0 <= frac <= 1.0
    for w in words:
        assert w in text, text
    assert " 0 images/s" not in text


def test_the_evaluation_reports_its_progress_to_the_end():
    import torch

    from explorer.analysis.metrics import evaluate_model
    from explorer.core.config import ModelConfig
    from explorer.models import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="vae", image_shape=(1, 8, 8), num_classes=10, latent_dim=2,
                                    channels=(4, 8), hidden=16, depth=0))
    images = np.random.default_rng(0).random((250, 1, 8, 8), dtype=np.float32)
    told: list[float] = []
    out = evaluate_model(model, images, np.zeros(250, dtype=np.int64), iwae_k=4, progress=told.append)
    assert out["iwae_k"] == 4 and len(told) >= 4
    assert told == sorted(told) and told[-1] == pytest.approx(1.0)


def test_the_shipped_beta_pair_shows_posterior_collapse():
    """Compare's example ships: the same 8-D digits vae at beta 0.5 and beta 4 (scripts/train_shipped.sh)."""
    from explorer.checkpoints import load_checkpoint

    root = Path(__file__).resolve().parents[1] / "checkpoints" / "digits"
    low, high = (load_checkpoint(root / f"vae-8d-beta{b}", with_model=False) for b in ("0.5", "4"))
    assert (low.model_cfg.beta, high.model_cfg.beta) == (0.5, 4.0)
    assert low.model_cfg.latent_dim == high.model_cfg.latent_dim == 8
    assert low.metrics["active_units"] > high.metrics["active_units"]     # beta 4 collapses dimensions
    assert high.metrics["kl"] < low.metrics["kl"] and high.metrics["recon"] > low.metrics["recon"]
