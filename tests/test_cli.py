"""`python -m explorer`: train, evaluate, sample and predict on the bundled digits set with
tiny models, and every mistake refused with exit status 2 and one clear line."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explorer.checkpoints import load_checkpoint
from explorer.cli import main
from explorer.analysis.metrics import predict_proba
from helpers import REPO

TINY = ["--dataset", "digits", "--channels", "4,8", "--hidden", "16", "--latent-dim", "2", "--epochs", "1",
        "--iwae-k", "2", "--max-steps", "3", "--batch-size", "32", "--device", "cpu", "--quiet"]
VAE_KEYS = {"neg_elbo", "recon", "kl", "iwae_nll", "active_units"}
CLASSIFIER_KEYS = {"accuracy", "macro_f1"}
FIDELITY_KEYS = {"conditional_fidelity", "sample_diversity"}

pytestmark = pytest.mark.usefixtures("explorer_env")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def train_tiny(root: Path, kind: str, name: str | None = None, *more: str) -> int:
    return main(["train", "--kind", kind, "--out-dir", str(root), "--name", name or kind, *TINY, *more])


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Checkpoints of every kind, trained once for the module: 3 steps each."""
    root = tmp_path_factory.mktemp("checkpoints")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPLORER_CACHE_DIR", str(root / "cache"))
        assert train_tiny(root, "classifier") == 0
        for kind in ("vae", "cvae", "hybrid"):
            assert train_tiny(root, kind) == 0
    return root


def ckpt(root: Path, name: str) -> Path:
    return root / "digits" / name


# ---------------------------------------------------------------- the entry point

@pytest.mark.slow  # a fresh interpreter
def test_the_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "explorer", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for command in ("train", "evaluate", "sample", "predict", "fetch-data"):
        assert command in proc.stdout


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2


# ---------------------------------------------------------------- train

@pytest.mark.parametrize("kind", ["vae", "cvae", "hybrid", "classifier"])
def test_train_writes_a_loadable_checkpoint(root, kind):
    c = load_checkpoint(ckpt(root, kind))
    assert c.kind == kind and c.dataset == "digits"
    assert c.model_cfg.image_shape == (1, 8, 8) and c.model_cfg.channels == (4, 8)
    assert c.state.status == "finished" and c.state.step == 3 and c.state.epoch == 1
    assert (ckpt(root, kind) / "README.md").is_file()
    assert (ckpt(root, kind) / "optimizer.safetensors").is_file(), "without --slim a run can be resumed"
    assert c.metrics, "train evaluates at the end and keeps the figures"


def test_train_prints_the_checkpoint_and_its_headline_figures(tmp_path, capsys):
    code, out, _ = run(capsys, "train", "--kind", "hybrid", "--out-dir", tmp_path, *TINY)
    assert code == 0
    path = tmp_path / "digits" / "hybrid-2d-lambda10"  # the default name says what it is
    assert f"checkpoint: {path}" in out
    headline = json.loads(out.strip().splitlines()[-1])
    assert (VAE_KEYS | CLASSIFIER_KEYS) <= set(headline)
    assert "confusion" not in headline, "the headline leaves out the long lists"


def test_train_records_how_it_was_made(root):
    card = (ckpt(root, "vae") / "README.md").read_text()
    assert "train --kind vae" in card and "--latent-dim 2" in card


def test_train_restores_the_ctrl_c_handler(tmp_path):
    before = signal.getsignal(signal.SIGINT)
    assert train_tiny(tmp_path, "vae", "v", "--no-evaluate") == 0
    assert signal.getsignal(signal.SIGINT) is before


def test_train_refuses_to_replace_a_checkpoint_by_accident(root, capsys):
    path = ckpt(root, "vae")
    before = (path / "model.safetensors").read_bytes()
    code, _, err = run(capsys, "train", "--kind", "vae", "--out-dir", root, "--name", "vae", *TINY)
    assert code == 2
    assert "already exists" in err and "--resume" in err and "--overwrite" in err
    assert (path / "model.safetensors").read_bytes() == before


def test_train_overwrite_replaces_the_checkpoint(tmp_path):
    assert train_tiny(tmp_path, "vae", "v", "--no-evaluate") == 0
    assert train_tiny(tmp_path, "vae", "v", "--no-evaluate", "--overwrite", "--latent-dim", "3") == 0
    assert load_checkpoint(tmp_path / "digits" / "v").model_cfg.latent_dim == 3
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == ["v"]


def test_resume_continues_the_step_count(tmp_path, capsys):
    assert train_tiny(tmp_path, "vae", "v", "--no-evaluate") == 0
    path = tmp_path / "digits" / "v"
    code, out, _ = run(capsys, "train", "--kind", "vae", "--out-dir", tmp_path, "--name", "v", "--resume",
                       "--epochs", "2", "--max-steps", "6", "--dataset", "digits", "--quiet", "--no-evaluate")
    assert code == 0, out
    assert "resuming" in out and "step 3" in out
    c = load_checkpoint(path)
    assert c.state.epoch == 2 and c.state.step == 6
    assert [h["epoch"] for h in c.state.history] == [1, 2]
    assert c.model_cfg.latent_dim == 2, "resume keeps the model of the checkpoint"


def test_resume_without_a_step_limit_trains_a_whole_epoch(tmp_path, capsys):
    assert train_tiny(tmp_path, "vae", "v", "--no-evaluate") == 0  # a 3-step smoke run
    code, out, _ = run(capsys, "train", "--kind", "vae", "--out-dir", tmp_path, "--name", "v", "--resume",
                       "--epochs", "2", "--dataset", "digits", "--quiet", "--no-evaluate")
    assert code == 0, out
    state = load_checkpoint(tmp_path / "digits" / "v").state
    assert state.epoch == 2 and state.step == 3 + 1437 // 32


def test_resume_of_a_finished_run_says_so(root, capsys):
    code, out, _ = run(capsys, "train", "--kind", "vae", "--out-dir", root, "--name", "vae", "--resume",
                       "--dataset", "digits", "--quiet")
    assert code == 0
    assert "already trained 1 of 1 epochs" in out and "--epochs" in out


def test_resume_of_nothing_is_refused(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--out-dir", tmp_path, "--name", "ghost", "--resume", "--dataset", "digits")
    assert code == 2 and "no checkpoint" in err and "ghost" in err


@pytest.mark.parametrize("bad, words", [
    (["--latent-dim", "0"], "latent_dim"),
    (["--lr", "5"], "lr"),
    (["--device", "tpu"], "unknown device"),
])
def test_train_refuses_bad_settings(tmp_path, capsys, bad, words):
    code, _, err = run(capsys, "train", "--kind", "vae", "--out-dir", tmp_path, *TINY, *bad)
    assert code == 2
    assert err.startswith("error: ") and words in err
    assert not (tmp_path / "digits").exists() or not any((tmp_path / "digits").iterdir())


# ---------------------------------------------------------------- evaluate

@pytest.mark.parametrize("kind, keys", [
    ("vae", VAE_KEYS),
    ("cvae", VAE_KEYS),
    ("hybrid", VAE_KEYS | CLASSIFIER_KEYS),
    ("classifier", CLASSIFIER_KEYS),
])
def test_evaluate_prints_one_json_object_and_writes_it(root, capsys, kind, keys):
    path = ckpt(root, kind)
    code, out, _ = run(capsys, "evaluate", "--checkpoint", path, "--iwae-k", "2")
    assert code == 0
    metrics = json.loads(out)
    assert isinstance(metrics, dict) and keys <= set(metrics)
    assert metrics["kind"] == kind and metrics["dataset"] == "digits" and metrics["n_test"] == 360
    assert json.loads((path / "metrics.json").read_text()) == metrics
    if kind != "classifier":
        assert 0 <= metrics["active_units"] <= 2
        assert metrics["neg_elbo"] == pytest.approx(metrics["recon"] + metrics["kl"])
    else:
        assert not VAE_KEYS & set(metrics)
    if kind in ("classifier", "hybrid"):
        assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["macro_f1"] <= 1.0


def test_evaluate_a_cvae_with_a_classifier_measures_fidelity(root, capsys):
    path = ckpt(root, "cvae")
    code, out, _ = run(capsys, "evaluate", "--checkpoint", path, "--iwae-k", "2",
                       "--classifier", ckpt(root, "classifier"))
    assert code == 0
    metrics = json.loads(out)
    assert (VAE_KEYS | FIDELITY_KEYS) <= set(metrics)
    assert 0.0 <= metrics["conditional_fidelity"] <= 1.0 and metrics["sample_diversity"] > 0
    assert len(metrics["conditional_fidelity_per_class"]) == 10
    assert json.loads((path / "metrics.json").read_text()) == metrics
    assert "conditional_fidelity" in (path / "README.md").read_text()

    # a later evaluation without --classifier keeps the fidelity figures
    code, out, _ = run(capsys, "evaluate", "--checkpoint", path, "--iwae-k", "2")
    assert json.loads(out)["conditional_fidelity"] == metrics["conditional_fidelity"]


def test_evaluate_refuses_a_vae_as_the_classifier(root, capsys):
    code, _, err = run(capsys, "evaluate", "--checkpoint", ckpt(root, "cvae"), "--iwae-k", "2",
                       "--classifier", ckpt(root, "vae"))
    assert code == 2 and "not a classifier" in err


def test_evaluate_refuses_a_directory_that_is_not_a_checkpoint(tmp_path, capsys):
    code, _, err = run(capsys, "evaluate", "--checkpoint", tmp_path)
    assert code == 2 and "config.json" in err and str(tmp_path) in err


# ---------------------------------------------------------------- sample

def test_sample_writes_images(root, tmp_path, capsys):
    out_file = tmp_path / "s.npy"
    code, out, _ = run(capsys, "sample", "--checkpoint", ckpt(root, "vae"), "--n", "7", "--out", out_file)
    assert code == 0 and "wrote 7 images" in out
    s = np.load(out_file)
    assert s.dtype == np.float32 and s.shape == (7, 1, 8, 8)
    assert s.min() >= 0.0 and s.max() <= 1.0


def test_sample_a_cvae_for_a_class(root, tmp_path, capsys):
    out_file = tmp_path / "s.npy"
    code, _, _ = run(capsys, "sample", "--checkpoint", ckpt(root, "cvae"), "--n", "4", "--label", "3", "--out", out_file)
    assert code == 0
    assert np.load(out_file).shape == (4, 1, 8, 8)


@pytest.mark.parametrize("name, args, words", [
    ("cvae", ["--n", "4"], "--label"),
    ("cvae", ["--n", "4", "--label", "10"], "--label must be in 0..9"),
    ("vae", ["--n", "4", "--label", "1"], "--label only applies to a cvae"),
    ("classifier", ["--n", "4"], "is a classifier"),
    ("vae", ["--n", "0"], "--n must be between"),
])
def test_sample_refuses_what_cannot_be_done(root, tmp_path, capsys, name, args, words):
    out_file = tmp_path / "s.npy"
    code, _, err = run(capsys, "sample", "--checkpoint", ckpt(root, name), *args, "--out", out_file)
    assert code == 2
    assert words in err
    assert not out_file.exists()


def test_sample_refuses_an_output_that_is_not_npy(root, tmp_path, capsys):
    code, _, err = run(capsys, "sample", "--checkpoint", ckpt(root, "vae"), "--n", "2", "--out", tmp_path / "s.png")
    assert code == 2 and ".npy" in err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- predict

@pytest.mark.parametrize("kind", ["classifier", "hybrid"])
def test_predict_writes_classes(root, tmp_path, capsys, kind):
    images = np.random.default_rng(0).random((9, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", images)
    code, out, _ = run(capsys, "predict", "--checkpoint", ckpt(root, kind), "--images", tmp_path / "x.npy",
                       "--out", tmp_path / "p.npy")
    assert code == 0 and "wrote 9 predictions" in out
    pred = np.load(tmp_path / "p.npy")
    assert pred.dtype == np.int64 and pred.shape == (9,)
    model = load_checkpoint(ckpt(root, kind)).model
    assert np.array_equal(pred, predict_proba(model, images).argmax(1)), "the CLI and the library agree"


def test_predict_refuses_a_vae(root, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    code, _, err = run(capsys, "predict", "--checkpoint", ckpt(root, "vae"), "--images", tmp_path / "x.npy",
                       "--out", tmp_path / "p.npy")
    assert code == 2 and "needs a classifier or hybrid" in err
    assert not (tmp_path / "p.npy").exists()


def write_npz(p: Path) -> None:
    np.savez(p, images=np.zeros((2, 1, 8, 8), np.float32))


@pytest.mark.parametrize("case, write, words", [
    ("wrong shape", lambda p: np.save(p, np.zeros((2, 1, 28, 28), np.float32)), "(N, 1, 8, 8)"),
    ("no channel axis", lambda p: np.save(p, np.zeros((2, 8, 8), np.float32)), "(N, 1, 8, 8)"),
    ("above 1", lambda p: np.save(p, np.full((2, 1, 8, 8), 255.0, np.float32)), "outside [0, 1]"),
    ("below 0", lambda p: np.save(p, np.full((2, 1, 8, 8), -0.5, np.float32)), "outside [0, 1]"),
    ("nan", lambda p: np.save(p, np.full((2, 1, 8, 8), np.nan, np.float32)), "outside [0, 1]"),
    ("integers", lambda p: np.save(p, np.zeros((2, 1, 8, 8), np.uint8)), "dtype"),
    ("text file", lambda p: p.write_text("0.1, 0.2\n"), "not a readable .npy"),
    ("pickle", lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True), "not a readable .npy"),
    ("npz archive", write_npz, "not a readable .npy"),
])
def test_predict_refuses_bad_images(root, tmp_path, capsys, case, write, words):
    images = tmp_path / "x.npy"
    write(images)
    if case == "npz archive":
        (tmp_path / "x.npy.npz").rename(images)  # np.savez adds its own suffix
    code, _, err = run(capsys, "predict", "--checkpoint", ckpt(root, "classifier"), "--images", images,
                       "--out", tmp_path / "p.npy")
    assert code == 2, err
    assert err.startswith("error: ") and words in err and str(images) in err
    assert not (tmp_path / "p.npy").exists()


def test_predict_refuses_a_missing_file(root, tmp_path, capsys):
    code, _, err = run(capsys, "predict", "--checkpoint", ckpt(root, "classifier"), "--images", tmp_path / "nope.npy",
                       "--out", tmp_path / "p.npy")
    assert code == 2 and "no such file" in err


# ---------------------------------------------------------------- fetch-data

def test_fetch_data_digits_has_nothing_to_download(capsys, explorer_env):
    code, out, _ = run(capsys, "fetch-data", "digits")
    assert code == 0
    assert "nothing to download" in out
    assert not explorer_env["cache"].exists(), "nothing was written to the cache"
