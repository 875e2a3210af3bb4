"""Every page with a model from outside: an ONNX folder (our tiny checkpoints exported) and a
named PyTorch factory, chosen in the sidebar like any checkpoint (AppTest, in process)."""
from __future__ import annotations

from pathlib import Path

import pytest

from explorer.checkpoints.onnx_export import export_onnx
from helpers import open_app, texts

PAGES = ["map", "traverse", "interpolate", "generate", "draw", "learn", "anomalies", "model_card", "compare"]


@pytest.fixture(scope="module")
def onnx_root(tiny_checkpoints: Path) -> Path:
    """The module's checkpoint root with ONNX copies of the tiny cvae, hybrid and classifier beside them."""
    for name in ("cvae-4d", "hybrid-10d", "classifier"):
        export_onnx(tiny_checkpoints / "digits" / name, tiny_checkpoints / "digits" / f"{name}-onnx")
    return tiny_checkpoints


@pytest.mark.parametrize("page, vae", [(page, "hybrid-10d-onnx") for page in PAGES]
                         + [(page, "cvae-4d-onnx") for page in ("generate", "traverse", "learn")])
def test_every_page_works_with_an_onnx_folder(app_env, onnx_root, page, vae):
    at = open_app(page, vae=vae, root=onnx_root)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert f"ONNX folder {onnx_root / 'digits' / vae}" in texts(at)
    if vae.startswith("hybrid") and page == "traverse":
        assert "own classifier head" in texts(at) or "%)" in texts(at)  # the hybrid's own head judges


def test_the_onnx_classifier_judges_the_images(app_env, onnx_root):
    at = open_app("traverse", vae="cvae-4d-onnx", root=onnx_root)
    at.sidebar.selectbox(key="sb_classifier").set_value(onnx_root / "digits" / "classifier-onnx").run()
    assert not at.exception and not at.error
    assert "%)" in texts(at)  # a verdict with its confidence, e.g. "3 (87%)"


@pytest.mark.parametrize("page", ["traverse", "generate", "learn"])
def test_a_named_factory_is_offered_and_works(app_env, monkeypatch, page):
    monkeypatch.setenv("EXPLORER_FACTORY", "factories:good")
    from explorer.checkpoints.factory import folder_for
    at = open_app(page)
    at.sidebar.selectbox(key="sb_vae").set_value(folder_for("factories:good")).run()
    assert not at.exception, at.exception
    assert "PyTorch factory factories:good" in texts(at)
