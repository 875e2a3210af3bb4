"""Hostile and broken checkpoints in the app (AppTest): choosing one shows a message in the page
naming the file, runs nothing from it, and choosing a good one in the sidebar afterwards works
as before. A checkpoint that a symlink leads outside the checkpoints folder is not offered.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from hostile import make_hostile
from helpers import APP

TIMEOUT = 60
pytestmark = pytest.mark.slow  # one app run per hostile file, each followed by a good one


@pytest.fixture(scope="module")
def hostile_root(tiny_checkpoints, tmp_path_factory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("hostile-app")
    root, outside = base / "root", base / "outside"
    shutil.copytree(tiny_checkpoints, root, symlinks=True)
    shutil.copytree(root / "digits" / "vae-2d", outside / "vae-2d")
    (root / "digits" / "vae-outside").symlink_to(outside / "vae-2d", target_is_directory=True)
    cases = make_hostile(root / "digits" / "vae-2d", root / "digits", outside)
    return root, cases


@pytest.fixture
def app(hostile_root, tmp_path, monkeypatch) -> AppTest:
    root, _ = hostile_root
    monkeypatch.setenv("EXPLORER_CHECKPOINTS", str(root))
    monkeypatch.setenv("EXPLORER_CHECKPOINTS_ONLY", "1")
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    from explorer.ui import cache
    cache.checkpoint_entries.clear()  # another test's root may be cached
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state["map_method"] = "pca"
    at.run()
    assert not at.exception, at.exception
    return at


def decoded_images(at: AppTest) -> list:
    return [url for img in at.image for url in img.value]


# The cases the sidebar offers (config-missing is no checkpoint at all, config-symlink-out is
# left out of the catalog); each is refused when chosen.
OFFERED = ["weights-truncated", "weights-empty", "weights-garbage", "weights-wrong-tensors", "weights-wrong-shape",
           "weights-huge-tensor", "weights-pickle", "weights-torch-save", "config-not-json", "config-unknown-kind",
           "config-latent-1e9", "config-too-many-parameters"]


@pytest.mark.parametrize("page", ["traverse", "generate"])
def test_each_hostile_checkpoint_is_a_message_and_a_good_one_still_works(app, hostile_root, page):
    root, cases = hostile_root
    at = app
    at.switch_page(f"ui/pages/{page}.py").run()
    good = root / "digits" / "vae-2d"
    at.sidebar.selectbox(key="sb_vae").set_value(good).run()
    assert not at.exception and not at.error
    assert decoded_images(at), "the good checkpoint shows decoded images"
    for name in OFFERED:
        case = cases[name]
        at.sidebar.selectbox(key="sb_vae").set_value(case.path).run()
        assert not at.exception, (name, at.exception)
        errors = " ".join(e.value for e in at.error)
        assert case.names in errors, f"{name}: the page does not name {case.names}: {errors}"
        for w in case.words:
            assert w in errors, f"{name}: {w!r} not in {errors}"
        assert "Pick another checkpoint in the sidebar" in errors or "Pick another in the sidebar" in errors
        if case.marker is not None:
            assert not case.marker.exists(), f"{name}: the app ran code from a pickle"
        at.sidebar.selectbox(key="sb_vae").set_value(good).run()
        assert not at.exception and not at.error, f"after {name}: {[e.value for e in at.error]}"
        assert decoded_images(at), f"after {name} the good checkpoint no longer shows images"


def test_checkpoints_outside_the_folder_are_not_offered(app, hostile_root):
    root, cases = hostile_root
    names = set(app.sidebar.selectbox(key="sb_vae").options)  # the labels the sidebar shows
    assert any("vae-2d" in n for n in names)
    assert not any("vae-outside" in n for n in names), names
    assert not any("config-symlink-out" in n for n in names), names
    assert any("config-not-json (unreadable)" in n for n in names), names
