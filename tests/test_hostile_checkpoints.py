"""Hostile and broken checkpoints refused by the real CLI (`python -m explorer`, in subprocesses)
and by the app's checkpoint catalog: exit status 2, one line naming the file, no traceback,
no output written, no code run from a pickle, no path that escapes the checkpoints folder.

The app side (the page shows the message and the sidebar keeps working) is in
test_hostile_app.py.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.checkpoints import CheckpointError, list_checkpoints, load_checkpoint, locate, resolve_ref, save_checkpoint
from explorer.data import load_dataset
from explorer.training import train
from explorer.checkpoints import catalog

from hostile import Case, make_hostile
from helpers import REPO, checkpoint_train_cfg, tiny_model_cfg

pytestmark = pytest.mark.slow  # one Python + torch start per refusal, run side by side


def train_good(path: Path) -> Path:
    model_cfg, train_cfg = tiny_model_cfg("vae", latent_dim=2), checkpoint_train_cfg()
    result = train(model_cfg, train_cfg, load_dataset("digits", "train"))
    return save_checkpoint(path, result.model, model_cfg, train_cfg, "digits", result.state)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """root/digits/vae (good) and its hostile copies; outside/vae, a good checkpoint outside the
    root, reached from inside it by a symlink root/digits/linked and by root/../outside/vae."""
    base = tmp_path_factory.mktemp("hostile")
    root, outside = base / "root", base / "outside"
    good = train_good(root / "digits" / "vae")
    train_good(outside / "vae")
    (root / "digits" / "linked").symlink_to(outside / "vae", target_is_directory=True)
    cases = make_hostile(good, root / "digits", outside)
    return {"base": base, "root": root, "outside": outside, "good": good, "cases": cases}


def cli(world: dict, *argv: str) -> subprocess.Popen:
    env = {**os.environ, "EXPLORER_CHECKPOINTS": str(world["root"]), "PYTHONPATH": str(REPO),
           "EXPLORER_CACHE_DIR": str(world["base"] / "cache")}
    return subprocess.Popen([sys.executable, "-m", "explorer", *argv], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def sampled(world) -> dict[str, tuple[int, str, str, Path]]:
    """`python -m explorer sample --checkpoint X` for every case, run side by side (4 at a time)."""
    args = {name: str(case.path) for name, case in world["cases"].items()}
    args |= {"good-by-path": str(world["good"]), "good-by-id": "digits/vae",
             "escape-dotdot": f"{world['root']}/../outside/vae", "escape-symlink": str(world["root"] / "digits" / "linked"),
             "escape-symlink-id": "digits/linked", "escape-dotdot-id": "digits/../../outside/vae"}
    results, running = {}, []
    for name, checkpoint in args.items():
        out = world["base"] / "out" / f"{name}.npy"
        running.append((name, out, cli(world, "sample", "--checkpoint", checkpoint, "--n", "2", "--out", str(out))))
        if len(running) >= 4 or name == list(args)[-1]:
            for n, o, proc in running:
                stdout, stderr = proc.communicate(timeout=300)
                results[n] = (proc.returncode, stdout, stderr, o)
            running = []
    return results


def assert_refused(result, names: str, *words: str) -> None:
    code, out, err, written = result
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and "Traceback" not in out, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: "), err
    assert names in err, f"{names} not named in: {err}"
    for w in words:
        assert w in err, f"{w!r} not in: {err}"
    assert not written.exists(), "a refused checkpoint wrote output"


def test_a_good_checkpoint_samples_by_path_and_by_id(sampled):
    for name in ("good-by-path", "good-by-id"):
        code, out, err, written = sampled[name]
        assert code == 0, err
        assert written.is_file() and "wrote 2 images" in out


HOSTILE = ["weights-truncated", "weights-empty", "weights-garbage", "weights-wrong-tensors", "weights-wrong-shape",
           "weights-huge-tensor", "weights-pickle", "weights-torch-save", "config-missing", "config-not-json",
           "config-unknown-kind", "config-latent-1e9", "config-too-many-parameters", "config-symlink-out"]


@pytest.mark.parametrize("name", HOSTILE)
def test_the_cli_refuses_a_hostile_checkpoint(world, sampled, name):
    case: Case = world["cases"][name]
    assert_refused(sampled[name], case.names, *case.words)
    if case.marker is not None:
        assert not case.marker.exists(), "the CLI ran code from a pickle"


def test_every_hostile_case_is_tried(world):
    assert set(HOSTILE) == set(world["cases"])


@pytest.mark.parametrize("name, words", [
    ("escape-dotdot", ["leads outside", "'..' or a symlink"]),
    ("escape-symlink", ["leads outside", "'..' or a symlink"]),
    ("escape-symlink-id", ["leads outside the checkpoints folder", "symlink"]),
    ("escape-dotdot-id", ["'..'"]),
])
def test_the_cli_refuses_a_path_out_of_the_checkpoints_folder(world, sampled, name, words):
    assert_refused(sampled[name], "error:", *words)
    assert (world["outside"] / "vae").is_dir(), "the checkpoint outside is untouched"


def test_train_refuses_a_name_that_leaves_the_folder(world, tmp_path):
    victim = world["base"] / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    proc = cli(world, "train", "--kind", "vae", "--dataset", "digits", "--out-dir", str(world["root"]),
               "--name", "../../victim", "--overwrite", "--epochs", "1", "--max-steps", "1", "--quiet")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    assert err.startswith("error: --name '../../victim' must be a plain name"), err
    assert (victim / "keep.txt").read_text() == "precious" and sorted(os.listdir(victim)) == ["keep.txt"]


def test_train_does_not_write_through_a_symlink_out_of_the_folder(world):
    proc = cli(world, "train", "--kind", "vae", "--dataset", "digits", "--out-dir", str(world["root"]),
               "--name", "linked", "--overwrite", "--epochs", "1", "--max-steps", "1", "--quiet")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    assert "symlink that leads outside" in err and "Traceback" not in err
    assert load_checkpoint(world["outside"] / "vae").state.step == 3, "the checkpoint outside is untouched"


# ---------------------------------------------------------------- the catalog (in process)

def test_the_catalog_does_not_offer_a_checkpoint_outside_its_root(world):
    listed = {p.name for p in list_checkpoints(world["root"])}
    assert "vae" in listed and "weights-truncated" in listed
    assert "linked" not in listed, "a symlink out of the root is offered"
    assert "config-symlink-out" not in listed, "a checkpoint whose config.json lies outside is offered"
    names = {e.name for e in catalog.scan([world["root"]])}
    assert "linked" not in names and "vae" in names


def test_resolve_entry_finds_a_checkpoint_by_its_id(world):
    entry = catalog.resolve_entry("digits/vae", [world["root"]])
    assert entry.path == world["root"] / "digits" / "vae" and entry.kind == "vae" and entry.latent_dim == 2
    assert catalog.entry_ref(entry, [world["root"]]) == "digits/vae"


@pytest.mark.parametrize("ref, words", [
    ("digits/../../outside/vae", "'..'"),
    ("../outside/vae", "'..'"),
    ("digits/./vae", "'.'"),
    ("digits/.vae.tmp-1", "hidden"),
    ("/etc", "absolute path"),
    ("~/vae", "absolute path"),
    ("C:\\checkpoints\\vae", "absolute path"),
    ("digits\\..\\..\\outside\\vae", "'..'"),
    ("digits/linked", "leads outside the checkpoints folder"),
    ("digits/nothing", "there is no checkpoint 'digits/nothing'"),
    ("", "not a checkpoint id"),
    ("digits/vae\x00", "not a checkpoint id"),
])
def test_resolve_entry_refuses_ids_that_leave_the_folder(world, ref, words):
    with pytest.raises(CheckpointError) as err:
        catalog.resolve_entry(ref, [world["root"]])
    assert words in str(err.value), str(err.value)


def test_locate_takes_ones_own_path_anywhere_but_not_an_escape_from_the_folder(world):
    own = world["outside"] / "vae"
    assert locate(own, world["root"]) == own  # a path of one's own, outside the folder: as given
    assert locate("digits/vae", world["root"]) == world["root"] / "digits" / "vae"
    with pytest.raises(CheckpointError, match="leads outside"):
        locate(world["root"] / "digits" / "linked", world["root"])
    with pytest.raises(CheckpointError):
        resolve_ref("digits/linked", world["root"])
