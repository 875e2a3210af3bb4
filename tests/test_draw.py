"""App tests for the Your image page and the Map page's decision regions and disagreement marks.

AppTest cannot draw on the canvas (a custom component); the drawing itself is covered by
tests/test_e2e_draw.py in a real browser. Here the same pipeline is driven through the
uploader, with real image files made by Pillow.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from helpers import REPO, chart_spec, open_app, texts
from PIL import Image, ImageDraw

UPLOADER = "draw_upload_0"


def png(ink="black", paper="white", mode="RGB") -> bytes:
    im = Image.new(mode, (200, 200), paper)
    ImageDraw.Draw(im).line([(100, 30), (110, 170)], fill=ink, width=15)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def trace_types(at) -> list[str]:
    return [t.get("type", "scatter") for t in json.loads(chart_spec(at))["data"]]


def upload(at, name: str, data: bytes, mime: str = "image/png"):
    at.segmented_control(key="draw_source").set_value("upload").run()
    at.file_uploader(key=UPLOADER).set_value((name, data, mime)).run()
    assert not at.exception, at.exception
    return at


def test_the_page_opens_with_a_canvas_and_says_what_to_do(app_env):
    at = open_app("draw")
    assert "Draw a digit on the canvas, or upload a picture" in texts(at)
    assert at.slider(key="draw_pen").value == 22
    assert not at.error


def test_an_upload_is_framed_encoded_reconstructed_judged_and_placed(app_env):
    at = upload(open_app("draw"), "one.png", png())
    shown = texts(at)
    assert "Showing your upload one.png." in shown
    assert "light background: inverted" in shown
    table = next(m.value for m in at.markdown if m.value.startswith("| judge"))
    assert "| CNN (classifier) |" in table and "| CNN on the reconstruction |" in table
    assert "| Hybrid's head (hybrid-10d) |" in table          # the dataset has a hybrid: side by side
    captions = [cap for img in at.image for cap in img.captions]
    assert "What the model sees" in captions and "The VAE's reconstruction" in captions
    assert "Its code is its position" in shown                 # vae-2d's map is its latent plane
    assert "Nearest test images" in shown
    assert at.get("plotly_chart")                              # the small map with the star


@pytest.mark.parametrize("name, data, says", [
    ("notes.png", b"these are my notes, not a picture" * 10, "not an image"),
    ("half.png", png()[:400], "damaged or cut off"),
    ("tiny.png", None, "only 1 x 1 pixels"),
])
def test_a_bad_upload_is_a_message_naming_the_file(app_env, name, data, says):
    if data is None:
        buf = io.BytesIO()
        Image.new("L", (1, 1)).save(buf, "PNG")
        data = buf.getvalue()
    at = upload(open_app("draw"), name, data)
    errors = [e.value for e in at.error]
    assert any(name in e and says in e for e in errors), errors
    assert "Draw a digit on the canvas" in texts(at)          # nothing half-shown


def test_your_image_becomes_an_interpolation_endpoint(app_env):
    at = upload(open_app("draw"), "one.png", png())
    at.button(key="draw_to_interp").click().run()
    assert not at.exception
    shown = texts(at)
    assert "**A**: your upload one.png; CNN: " in shown
    assert "Frames from A (t = 0) to B (t = 1)" in shown
    at.switch_page("ui/pages/interpolate.py")                  # AppTest stays on the page it opened
    at.button(key="interp_b_yours").click().run()              # both ends: a path of one point
    assert not at.exception
    assert "**B**: your upload one.png" in texts(at)


def test_your_image_is_a_base_for_traverse(app_env):
    at = upload(open_app("draw"), "one.png", png())
    at.button(key="draw_to_trav").click().run()
    assert not at.exception
    assert "Base: your upload one.png." in texts(at)
    assert at.segmented_control(key="trav_base").value == "yours"


def test_traverse_from_your_image_without_one_says_how_to_get_one(app_env):
    at = open_app("traverse")
    at.segmented_control(key="trav_base").set_value("yours").run()
    assert not at.exception
    assert "no image of yours yet" in texts(at)


def test_forget_clears_the_image(app_env):
    at = upload(open_app("draw"), "one.png", png())
    at.button(key="draw_forget").click().run()
    assert not at.exception
    assert "Draw a digit on the canvas, or upload a picture" in texts(at)


# ---------------------------------------------------------------- Map layers

def test_decision_regions_shade_the_latent_plane(app_env):
    at = open_app(method=None)
    assert "heatmap" not in trace_types(at)
    at.toggle(key="map_regions").set_value(True).run()
    assert not at.exception
    assert trace_types(at)[0] == "heatmap"                     # drawn first: under the points
    shown = texts(at)
    assert "Background: the class classifier gives the image decoded at each spot" in shown
    assert "exact: the map is the latent plane itself" in shown
    assert "Backdrop: images decoded" not in shown             # the shading replaces the decoded images


def test_disagreement_marks_are_counted_and_drawn(app_env):
    at = open_app(method=None)
    at.toggle(key="map_marks").set_value(True).run()
    assert not at.exception
    spec = chart_spec(at)
    assert "CNN wrong" in spec and "recon. differs" in spec
    assert "test images the classifier gets wrong" in texts(at)
    # the pass over the test set behind the marks is kept on disk: a new server reads it
    kept = list((Path(app_env["EXPLORER_CACHE_DIR"]) / "arrays").glob("recon_classify-*.npz"))
    assert len(kept) == 1


@pytest.mark.slow  # a t-SNE map of 360 codes first
def test_regions_on_a_higher_dimensional_map_are_called_an_approximation(app_env, tiny_checkpoints):
    at = open_app(vae="hybrid-10d", root=tiny_checkpoints, method="tsne")
    at.toggle(key="map_regions").set_value(True).run()
    assert not at.exception
    assert "The regions are an approximation." in texts(at)


def test_regions_for_a_cvae_explain_why_not(app_env, tiny_checkpoints):
    at = open_app(vae="cvae-4d", root=tiny_checkpoints)
    at.toggle(key="map_regions").set_value(True).run()
    assert not at.exception
    assert "has no single decision map" in texts(at)


@pytest.mark.slow  # fits UMAP twice (the map, then the refit), with numba compilation first
def test_umaps_own_inverse_is_an_explicit_slow_action(app_env, tiny_checkpoints):
    at = open_app(vae="hybrid-10d", root=tiny_checkpoints, method="umap")
    at.default_timeout = 300
    at.toggle(key="map_regions").set_value(True).run()
    assert "nearest test points on the UMAP map" in texts(at)
    at.button(key="map_refit").click().run()
    assert not at.exception
    shown = texts(at)
    assert "inverse_transform of the refit UMAP" in shown and "The regions are an approximation." in shown
    assert not at.warning                                      # the refit reproduced the map


def test_a_cvae_encodes_your_image_with_the_judges_class(app_env, tiny_checkpoints):
    at = open_app("draw", vae="cvae-4d", root=tiny_checkpoints)
    upload(at, "one.png", png())
    shown = texts(at)
    assert "A cvae encodes and decodes with a class:" in shown
    assert "The VAE's reconstruction" in shown


def test_the_server_lets_a_file_too_big_for_images_reach_the_page():
    import tomllib

    from explorer.data import images

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 2**20 > images.MAX_BYTES  # so the page says why, in words


def test_your_image_is_a_star_on_the_map_page(app_env):
    at = upload(open_app("draw"), "one.png", png())
    at.switch_page("ui/pages/map.py").run()
    assert not at.exception
    names = [t.get("name") for t in json.loads(chart_spec(at))["data"]]
    assert "your image" in names
    assert "Star: your upload one.png." in texts(at)
