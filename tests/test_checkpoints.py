"""Checkpoints: exact round trips, atomic replacement, and clear refusals of anything
broken or hostile, without ever unpickling."""
from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import explorer.checkpoints as checkpoints
from explorer.checkpoints import (
    CONFIG_FILE, EXTERNAL_FILE, WEIGHTS_FILE, CheckpointError, is_checkpoint_dir, list_checkpoints, load_checkpoint,
    recover_interrupted, save_checkpoint, write_metrics,
)
from explorer.checkpoints import catalog
from explorer.core.config import MODEL_KINDS
from explorer.models import build_model
from explorer.core.state import TrainState
from explorer.training import train

from helpers import REPO, tiny_model_cfg, tiny_train_cfg

pytestmark = pytest.mark.usefixtures("explorer_env")


def scrambled_model(kind: str, seed: int = 0, **cfg_changes):
    """A model whose every tensor (BatchNorm statistics included) differs from a fresh build."""
    cfg = tiny_model_cfg(kind, latent_dim=3, **cfg_changes)
    model = build_model(cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)  # positive: valid running_var
            else:
                t.fill_(7)  # num_batches_tracked
    return cfg, model.eval()


def save(path: Path, kind: str = "vae", seed: int = 0, **kw) -> tuple[Path, dict]:
    cfg, model = scrambled_model(kind, seed)
    state = TrainState(epoch=2, step=10, status="finished", message="done",
                       history=[{"epoch": 1, "step": 5}, {"epoch": 2, "step": 10}])
    save_checkpoint(path, model, cfg, tiny_train_cfg(), "digits", state, **kw)
    return path, {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert torch.equal(a[k], b[k]), k


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


# ---------------------------------------------------------------- round trips

@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_round_trip_is_exact_for_every_kind(tmp_path, kind):
    cfg, model = scrambled_model(kind, cls_weight=2.0 if kind == "hybrid" else 0.0)
    state = TrainState(epoch=3, step=42, status="finished", message="trained",
                       history=[{"epoch": 3, "step": 42, "test_loss": 1.5}])
    path = save_checkpoint(tmp_path / "digits" / kind, model, cfg, tiny_train_cfg(epochs=3), "digits", state,
                           metrics={"accuracy": 0.5}, extra={"command": "python -m explorer train", "notes": "hi"})
    ckpt = load_checkpoint(path)
    assert ckpt.kind == kind and ckpt.name == kind and ckpt.dataset == "digits"
    assert ckpt.model_cfg == cfg
    assert ckpt.train_cfg == tiny_train_cfg(epochs=3)
    assert (ckpt.state.epoch, ckpt.state.step, ckpt.state.status, ckpt.state.message) == (3, 42, "finished", "trained")
    assert ckpt.state.history == state.history
    assert ckpt.metrics == {"accuracy": 0.5}
    assert ckpt.extra["notes"] == "hi"
    assert type(ckpt.model) is type(model) and not ckpt.model.training
    assert_same_tensors(ckpt.model.state_dict(), model.state_dict())
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        a, b = model(x, y), ckpt.model(x, y)
    assert torch.equal(a.logits, b.logits)


def test_a_checkpoint_describes_itself(tmp_path):
    path, _ = save(tmp_path / "vae-3d", metrics={"neg_elbo": 30.25}, extra={"command": "python -m explorer train --kind vae"})
    assert is_checkpoint_dir(path)
    assert {"config.json", "model.safetensors", "metrics.json", "README.md"} <= set(os.listdir(path))
    raw = json.loads((path / CONFIG_FILE).read_text())
    assert raw["kind"] == "vae" and raw["dataset"] == "digits"
    assert raw["model"]["latent_dim"] == 3
    assert {"torch", "safetensors", "numpy", "python", "latent_explorer"} <= set(raw["versions"])
    card = (path / "README.md").read_text()
    assert card.startswith("# vae-3d: Variational autoencoder on digits")
    assert "python -m explorer train --kind vae" in card
    assert "| neg_elbo | 30.25 |" in card
    assert "| latent_dim | 3 |" in card


def test_the_classifier_card_says_what_it_is_for(tmp_path):
    path, _ = save(tmp_path / "clf", kind="classifier", metrics={"accuracy": 0.9125})
    card = (path / "README.md").read_text()
    assert "CNN classifier" in card and "| accuracy | 0.9125 |" in card


def test_write_metrics_replaces_the_figures_and_the_card(tmp_path):
    path, _ = save(tmp_path / "c", metrics={"neg_elbo": 99.0})
    write_metrics(path, {"neg_elbo": 31.5, "iwae_nll": 30.0})
    assert json.loads((path / "metrics.json").read_text()) == {"neg_elbo": 31.5, "iwae_nll": 30.0}
    card = (path / "README.md").read_text()
    assert "| iwae_nll | 30.00 |" in card and "99" not in card
    assert sorted(os.listdir(path)) == ["README.md", "config.json", "metrics.json", "model.safetensors"], \
        "no temporary files are left in the checkpoint"


def test_optimizer_state_round_trips(tmp_path, tiny_data):
    cfg = tiny_model_cfg("vae")
    result = train(cfg, tiny_train_cfg(epochs=1), tiny_data)
    save_checkpoint(tmp_path / "c", result.model, cfg, tiny_train_cfg(epochs=1), "digits", result.state,
                    optimizer=result.optimizer)
    opt = load_checkpoint(tmp_path / "c", with_optimizer=True).extra["optimizer_state"]
    want = result.optimizer.state_dict()
    assert opt["state"].keys() == want["state"].keys()
    for pid in want["state"]:
        for name, value in want["state"][pid].items():
            assert torch.equal(opt["state"][pid][name], value), (pid, name)
    assert opt["param_groups"][0]["lr"] == want["param_groups"][0]["lr"]
    assert opt["param_groups"][0]["params"] == want["param_groups"][0]["params"]


def test_a_slim_checkpoint_has_no_optimizer_state(tmp_path):
    path, _ = save(tmp_path / "c")
    assert load_checkpoint(path, with_optimizer=True).extra["optimizer_state"] is None


# ---------------------------------------------------------------- atomic replacement

def test_saving_over_a_checkpoint_replaces_it_whole(tmp_path):
    path, _ = save(tmp_path / "c", kind="vae", seed=0, metrics={"neg_elbo": 1.0})
    (path / "projections").mkdir()
    _, new = save(path, kind="cvae", seed=1)
    ckpt = load_checkpoint(path)
    assert ckpt.kind == "cvae"
    assert_same_tensors(ckpt.model.state_dict(), new)
    assert not (path / "metrics.json").exists() and not (path / "projections").exists(), "nothing old is mixed in"
    assert siblings(path) == ["c"], "no temporary or old directories are left behind"


def test_a_save_that_fails_midway_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch):
    path, old = save(tmp_path / "c", seed=0)

    def broken_save_file(tensors, filename, *args, **kwargs):
        Path(filename).write_bytes(b"half a file")
        raise OSError("disk full")

    import safetensors.torch
    monkeypatch.setattr(safetensors.torch, "save_file", broken_save_file)  # checkpoints imports it when saving
    with pytest.raises(OSError, match="disk full"):
        save(path, seed=1)
    monkeypatch.undo()
    assert siblings(path) == ["c"], "the temporary directory is cleaned up"
    assert_same_tensors(load_checkpoint(path).model.state_dict(), old)


def test_a_save_interrupted_between_its_renames_is_recovered(tmp_path, monkeypatch):
    path, old = save(tmp_path / "c", seed=0)
    real_rename = os.rename

    def rename(src, dst):
        if Path(src).name.startswith(".c.tmp-"):
            raise KeyboardInterrupt  # killed after moving the old checkpoint aside
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        save(path, seed=1)
    monkeypatch.undo()
    assert_same_tensors(load_checkpoint(path).model.state_dict(), old)
    assert siblings(path) == ["c"]


def test_recover_interrupted_puts_the_old_directory_back(tmp_path):
    path, old = save(tmp_path / "c")
    aside = tmp_path / ".c.old-123-456"
    os.rename(path, aside)
    assert list_checkpoints(tmp_path) == [], "a hidden old directory is not a checkpoint"
    recover_interrupted(path)
    assert path.is_dir() and not aside.exists()
    assert_same_tensors(load_checkpoint(path).model.state_dict(), old)


def test_load_recovers_an_interrupted_save_by_itself(tmp_path):
    path, old = save(tmp_path / "c")
    os.rename(path, tmp_path / ".c.old-1-2")
    assert_same_tensors(load_checkpoint(path).model.state_dict(), old)


def test_recover_interrupted_leaves_an_existing_checkpoint_alone(tmp_path):
    path, _ = save(tmp_path / "c")
    stale = tmp_path / ".c.old-1-2"
    stale.mkdir()
    recover_interrupted(path)
    assert stale.exists() and is_checkpoint_dir(path)


# ---------------------------------------------------------------- listing

def test_list_checkpoints_finds_nested_ones_and_skips_hidden_and_partial(tmp_path):
    root = tmp_path / "root"
    a, _ = save(root / "digits" / "a")
    b, _ = save(root / "digits" / "sweep" / "b")
    c, _ = save(root / "mnist" / "c", kind="classifier")
    shutil.copytree(a, root / "digits" / ".a.tmp-xyz")     # a save in progress
    shutil.copytree(a, root / "digits" / ".a.old-1-2")     # an old copy being replaced
    (root / "digits" / "no-weights").mkdir()
    (root / "digits" / "no-weights" / CONFIG_FILE).write_text("{}")
    assert list_checkpoints(root) == sorted([a, b, c])
    assert list_checkpoints(tmp_path / "missing") == []


def test_a_folder_with_a_config_is_ours_whatever_model_json_it_holds(tmp_path):
    """One rule for listing, describing, resolving and loading: model.json alone is an external
    model; beside a config.json it is ignored, so the folder is ours, or nothing without weights."""
    root = tmp_path / "root"
    ours, weights = save(root / "digits" / "both")
    (ours / EXTERNAL_FILE).write_text("{}")
    external = root / "digits" / "onnx"
    external.mkdir()
    (external / EXTERNAL_FILE).write_text("{}")
    half = root / "digits" / "config-but-no-weights"
    half.mkdir()
    (half / CONFIG_FILE).write_text("{}")
    (half / EXTERNAL_FILE).write_text("{}")
    assert list_checkpoints(root) == sorted([ours, external])
    assert [is_checkpoint_dir(p) for p in (ours, external, half)] == [True, True, False]
    entries = {e.name: e for e in catalog.scan([root], factories=())}
    assert entries["both"].kind == "vae" and not entries["both"].problem and not entries["both"].origin
    assert "model.json" in entries["onnx"].problem, "an external folder is read as one (and its bad model.json named)"
    assert_same_tensors(load_checkpoint(ours).model.state_dict(), weights)


# ---------------------------------------------------------------- refusals: weights

def assert_refused(path: Path, *words: str) -> CheckpointError:
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    for w in words:
        assert w in str(err.value), f"{w!r} not in: {err.value}"
    return err.value


def test_weights_of_the_wrong_shape_are_refused(tmp_path):
    path, _ = save(tmp_path / "c")
    raw = json.loads((path / CONFIG_FILE).read_text())
    raw["model"]["latent_dim"] = 5  # the weights were saved for 3
    (path / CONFIG_FILE).write_text(json.dumps(raw))
    assert_refused(path, str(path / WEIGHTS_FILE), "to_mu.weight", "(3, 16)", "(5, 16)")


def test_missing_tensors_are_refused(tmp_path):
    path, weights = save(tmp_path / "c")
    del weights["decoder.up2.weight"]
    save_file(weights, path / WEIGHTS_FILE)
    assert_refused(path, str(path / WEIGHTS_FILE), "missing decoder.up2.weight")


def test_extra_tensors_are_refused(tmp_path):
    path, weights = save(tmp_path / "c")
    weights["backdoor"] = torch.zeros(2)
    save_file(weights, path / WEIGHTS_FILE)
    assert_refused(path, str(path / WEIGHTS_FILE), "unexpected backdoor")


def test_integer_weights_are_refused(tmp_path):
    path, weights = save(tmp_path / "c")
    weights["to_mu.bias"] = weights["to_mu.bias"].long()
    save_file(weights, path / WEIGHTS_FILE)
    assert_refused(path, "to_mu.bias", "floating point")


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_damaged_weights_are_refused(tmp_path, damage):
    path, _ = save(tmp_path / "c")
    f = path / WEIGHTS_FILE
    data = f.read_bytes()
    f.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "garbage": b"\x00" * 64}[damage])
    assert_refused(path, str(f), "could not be read as safetensors")


def test_missing_weights_are_refused(tmp_path):
    path, _ = save(tmp_path / "c")
    (path / WEIGHTS_FILE).unlink()
    assert_refused(path, WEIGHTS_FILE)


class _RunsCode:
    """Unpickling this calls open(marker, 'w'): it creates a file, as a real exploit would run code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_pickle_posing_as_weights_is_refused_and_never_run(tmp_path, writer):
    def write(target: Path, marker: Path) -> None:
        payload = {"to_mu.weight": _RunsCode(marker)}
        if writer == "pickle":
            target.write_bytes(pickle.dumps(payload))
        else:
            torch.save(payload, target)

    # First prove the payload is live: unpickling it does create its marker.
    proof, proof_marker = tmp_path / "proof.bin", tmp_path / "PROOF"
    write(proof, proof_marker)
    if writer == "pickle":
        pickle.loads(proof.read_bytes())
    else:
        torch.load(proof, weights_only=False)
    assert proof_marker.exists()

    path, _ = save(tmp_path / "c")
    marker = tmp_path / "MARKER"
    write(path / WEIGHTS_FILE, marker)
    assert_refused(path, str(path / WEIGHTS_FILE), "pickles are never loaded")
    assert not marker.exists(), "loading a checkpoint ran code from a pickle"


# ---------------------------------------------------------------- refusals: config

def test_not_a_directory_is_refused(tmp_path):
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"x")
    assert_refused(f, str(f), "not a directory")
    assert_refused(tmp_path / "nothing-here", "not a directory")


def test_a_directory_without_config_is_refused(tmp_path):
    path, _ = save(tmp_path / "c")
    (path / CONFIG_FILE).unlink()
    assert_refused(path, str(path), "no config.json")


def edit_config(path: Path, edit) -> None:
    raw = json.loads((path / CONFIG_FILE).read_text())
    edit(raw)
    (path / CONFIG_FILE).write_text(json.dumps(raw))


@pytest.mark.parametrize("case, edit, words", [
    ("unknown kind", lambda r: (r.update(kind="gan"), r["model"].update(kind="gan")), ["unknown model kind 'gan'"]),
    ("kind disagrees", lambda r: r.update(kind="cvae"), ["disagrees"]),
    ("absurd latent", lambda r: r["model"].update(latent_dim=10**9), ["latent_dim"]),
    ("float latent", lambda r: r["model"].update(latent_dim=2.5), ["latent_dim"]),
    ("typo field", lambda r: r["model"].update(latnet_dim=3), ["latnet_dim"]),
    ("no model", lambda r: r.pop("model"), ["ModelConfig"]),
    ("bad train", lambda r: r["train"].update(lr=-1), ["lr"]),
    ("other format", lambda r: r.update(format="pythae/2"), ["latent-explorer/1"]),
    ("bad state", lambda r: r["state"].update(epoch="three"), ["state"]),
    ("bad history", lambda r: r.update(history=7), ["history"]),
])
def test_a_config_that_does_not_fit_is_refused(tmp_path, case, edit, words):
    path, _ = save(tmp_path / "c")
    edit_config(path, edit)
    assert_refused(path, str(path / CONFIG_FILE), *words)


def test_a_model_too_large_to_load_is_refused_before_allocating(tmp_path):
    path, _ = save(tmp_path / "c")
    # every size within its own bound, but together about 10**9 parameters
    edit_config(path, lambda r: r["model"].update(image_shape=[1, 128, 128], channels=[256, 256], hidden=2048))
    assert_refused(path, str(path / CONFIG_FILE), "parameters")


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00", b"[1, 2]", b""])
def test_a_config_that_is_not_json_is_refused(tmp_path, content):
    path, _ = save(tmp_path / "c")
    (path / CONFIG_FILE).write_bytes(content)
    assert_refused(path, str(path / CONFIG_FILE))


def test_an_oversized_config_is_refused_without_reading_it(tmp_path):
    path, _ = save(tmp_path / "c")
    with open(path / CONFIG_FILE, "wb") as f:
        f.truncate(checkpoints.MAX_CONFIG_BYTES + 1)
    assert_refused(path, str(path / CONFIG_FILE), "too large")


def test_an_unreadable_metrics_file_does_not_stop_loading(tmp_path):
    path, old = save(tmp_path / "c")
    (path / "metrics.json").write_text("{oops")
    ckpt = load_checkpoint(path)
    assert ckpt.metrics == {}
    assert_same_tensors(ckpt.model.state_dict(), old)


def test_a_damaged_optimizer_file_is_refused_for_resume(tmp_path, tiny_data):
    cfg = tiny_model_cfg("vae")
    result = train(cfg, tiny_train_cfg(epochs=1), tiny_data)
    path = save_checkpoint(tmp_path / "c", result.model, cfg, tiny_train_cfg(epochs=1), "digits", result.state,
                           optimizer=result.optimizer)
    (path / "optimizer.safetensors").write_bytes(b"\x00" * 10)
    load_checkpoint(path)  # the model alone still loads
    with pytest.raises(CheckpointError, match="optimizer.safetensors"):
        load_checkpoint(path, with_optimizer=True)


def test_new_checkpoints_go_to_the_first_root_for_the_cli_and_the_app(monkeypatch, tmp_path):
    from explorer.checkpoints import catalog

    monkeypatch.setenv("EXPLORER_CHECKPOINTS", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    monkeypatch.delenv("EXPLORER_CHECKPOINTS_ONLY", raising=False)
    assert catalog.checkpoint_roots() == [tmp_path / "a", tmp_path / "b", catalog.REPO_CHECKPOINTS]
    assert catalog.default_root() == tmp_path / "a"
    monkeypatch.delenv("EXPLORER_CHECKPOINTS")
    assert catalog.default_root() == catalog.REPO_CHECKPOINTS  # not ./checkpoints of wherever the CLI runs


def test_compare_opens_on_the_shipped_beta_pair_to_show_posterior_collapse():
    """The shipped digits vae-8d at beta 0.5 and at beta 4: the same kind and size, the lowest and
    the highest beta; without such a pair, the first two."""
    from explorer.checkpoints import catalog

    entries = [e for e in catalog.vae_choices(catalog.scan([REPO / "checkpoints"]), "digits") if not e.problem]
    betas = [load_checkpoint(e.path, with_model=False).model_cfg.beta for e in entries]
    low, high = catalog.beta_pair(entries, betas)
    assert (entries[low].name, entries[high].name) == ("vae-8d-beta0.5", "vae-8d-beta4")
    assert catalog.beta_pair(entries, [1.0] * len(entries)) == (0, 1)


def test_a_shipped_testset_is_served_only_for_the_weights_and_test_set_it_was_made_from(tiny_checkpoints, tmp_path):
    """testset.npz spares a fresh start torch and a pass over the test set, but only while it
    still describes the checkpoint: retrained weights or other test images make it a miss."""
    import shutil

    import numpy as np

    from explorer.checkpoints import testset

    ckpt = tmp_path / "vae-2d"
    shutil.copytree(tiny_checkpoints / "digits" / "vae-2d", ckpt)
    mu = np.linspace(-2, 2, 20, dtype=np.float32).reshape(10, 2)
    testset.write(ckpt, "data-1", {"encode": (mu, mu / 2)})
    got = testset.read(ckpt, "encode", "data-1", rows=10)
    assert got is not None and np.allclose(got[0], mu, atol=1e-2) and got[0].dtype == np.float32
    assert testset.read(ckpt, "encode", "data-2", rows=10) is None      # another test set
    assert testset.read(ckpt, "encode", "data-1", rows=11) is None      # another size
    assert testset.read(ckpt, "recon_error", "data-1", rows=10) is None  # never shipped
    weights = ckpt / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes() + b"\0")                    # retrained (any change)
    assert testset.read(ckpt, "encode", "data-1", rows=10) is None
