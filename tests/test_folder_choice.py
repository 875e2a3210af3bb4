"""Choosing a folder of one's own images in the UI: the Train page reads it (progress, then what
it holds and what was skipped), a checkpoint trained on it is filed in one safe folder and the
sidebar offers it like any other, titled with its side.

These use the data layer's folder names (explorer.data.folder_dataset_id, folder_report, SIDES,
load_dataset(..., progress=)) and are skipped until that layer has them."""
from __future__ import annotations

import pytest

import explorer.data
from explorer.checkpoints import catalog, save_checkpoint
from explorer.core.state import TrainState
from helpers import APP, APP_TIMEOUT, FOLDER_CLASSES, texts, tiny_model_cfg, tiny_train_cfg, write_colour_folder

pytestmark = pytest.mark.skipif(not hasattr(explorer.data, "folder_dataset_id"),
                                reason="needs the folder loader (explorer.data.folder_dataset_id): issue 14, 'folders'")


def _train_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT)
    at.run()
    at.switch_page("ui/pages/train.py").run()
    return at


def test_the_train_page_reads_a_folder_and_reports_what_it_skipped(app_env, tmp_path):
    folder = write_colour_folder(tmp_path / "my pictures")
    (folder / "reds" / "not-an-image.png").write_bytes(b"this is text, not a PNG")
    at = _train_page()
    at.selectbox(key="tr_dataset").set_value("your-folder").run()
    assert "tr_start" not in [b.key for b in at.button]  # nothing to train until the folder is read
    at.text_input(key="tr_folder_path").set_value(str(folder)).run()
    at.segmented_control(key="tr_folder_side").set_value(32).run()
    at.button(key="tr_folder_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = texts(at)
    assert "my pictures" in shown and "32x32 colour" in shown
    assert all(name in shown for name in FOLDER_CLASSES)
    assert "1 file(s) skipped" in [e.label for e in at.expander]
    assert "not-an-image.png" in shown
    assert "tr_start" in [b.key for b in at.button]  # now it can be trained


def test_a_folder_that_is_not_there_is_a_message_not_a_traceback(app_env, tmp_path):
    at = _train_page()
    at.selectbox(key="tr_dataset").set_value("your-folder").run()
    at.text_input(key="tr_folder_path").set_value(str(tmp_path / "nowhere")).run()
    at.button(key="tr_folder_go").click().run()
    assert not at.exception
    assert at.error and "nowhere" in at.error[0].value
    assert "tr_start" not in [b.key for b in at.button]


def test_a_folder_checkpoint_is_filed_safely_and_offered_in_the_sidebar(app_env, tmp_path, monkeypatch):
    folder = write_colour_folder(tmp_path / "cats and dogs")
    name = explorer.data.folder_dataset_id(str(folder), 32)
    spec = explorer.data.get_spec(name)
    part = explorer.data.dataset_dir_name(name)
    assert "/" not in part and ":" not in part and "32" in part
    root = tmp_path / "checkpoints"  # a root of its own: no scan of it is cached yet
    monkeypatch.setenv("EXPLORER_CHECKPOINTS", str(root))
    cfg = tiny_model_cfg("vae", image_shape=spec.image_shape, num_classes=spec.num_classes)
    from explorer.models import build_model
    save_checkpoint(root / part / "vae-2d-folder", build_model(cfg), cfg, tiny_train_cfg(dataset=name), name,
                    TrainState())
    entry = next(e for e in catalog.scan([root]) if e.path.name == "vae-2d-folder")
    assert entry.dataset == name

    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT)
    at.run()
    box = at.sidebar.selectbox(key="sb_dataset")
    assert "cats and dogs (your folder, 32 px)" in box.options
    box.set_value(name).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.sidebar.selectbox(key="sb_vae").value.name == "vae-2d-folder"
