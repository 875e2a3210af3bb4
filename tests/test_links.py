"""A shared link reopens what was shown, or says plainly what it could not keep (issue 18):
Traverse's and Generate's sliders, Generate's seed, a large map selection. Tiny checkpoints."""
from __future__ import annotations

import re

import numpy as np
from streamlit.testing.v1 import AppTest

from helpers import APP, chart_spec, texts

TIMEOUT = 60


def run_app(query: dict, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state["map_method"] = "pca"
    at.query_params.update(query)
    if page:  # the link's path: the page opens on the first run, as in a browser
        at.switch_page(f"ui/pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def copy_link(at: AppTest) -> dict:
    return {k: at.query_params[k] for k in at.query_params}


def test_traverse_sliders_come_back_from_a_link(app_env):
    at = run_app({"ckpt": "digits/hybrid-10d"}, "traverse")
    at.segmented_control(key="trav_base").set_value("class").run()
    slider = at.slider(key="trav_z1")
    moved = round((slider.value + slider.max) / 2, 2)  # e.g. 0.91 -> 1.29
    assert moved != slider.value
    slider.set_value(moved).run()
    link = copy_link(at)
    assert link["z"] == f"1:{moved:g}"
    link["trav_base"] = "Class mean"  # a bound widget: the browser writes it, AppTest does not
    again = run_app(link, "traverse")
    assert again.segmented_control(key="trav_base").value == "class"
    assert again.slider(key="trav_z1").value == moved
    assert not again.toast


def test_a_traverse_value_out_of_range_is_clamped_and_said(app_env):
    at = run_app({"ckpt": "digits/hybrid-10d", "trav_base": "Origin", "z": "2:99,x:1"}, "traverse")
    assert at.slider(key="trav_z2").value == at.slider(key="trav_z2").max
    said = at.toast[0].value
    assert "z2 = 99 is outside its slider's range" in said and "slider values (`z`" in said


def test_generate_seed_and_sliders_come_back(app_env):
    at = run_app({"ckpt": "digits/cvae-4d"}, "generate")
    at.button(key="gen_reseed").click().run()
    at.button(key="gen_reseed").click().run()
    key = next(s.key for s in at.slider if s.key.startswith("gen_z"))
    at.slider(key=key).set_value(1.5).run()
    link = copy_link(at)
    assert link["seed"] == "2"
    shown = [img.value for img in at.image]
    again = run_app(link, "generate")
    assert again.session_state["gen_seed"] == 2 and again.slider(key=key).value == 1.5
    assert [img.value for img in again.image] == shown  # the same samples, the same image at the sliders


def test_a_large_selection_comes_back_whole(app_env):
    at = run_app({"ckpt": "digits/vae-2d"})
    picked = list(range(1, 301))  # far more than the 50 a link used to keep (the digits test set has 360)
    at.session_state["selected"], at.session_state["selected_for"] = picked, "digits"
    at.run()
    again = run_app(copy_link(at))
    assert again.session_state["selected"] == picked
    assert "**300 selected**" in texts(again)
    assert not again.toast


def test_a_selection_cut_short_says_so(app_env):
    at = run_app({"ckpt": "digits/vae-2d", "sel": "1,2,3", "seln": "5000"})
    assert at.session_state["selected"] == [1, 2, 3]
    assert "keeps the first 3 of the 5,000 selected images" in at.toast[0].value


# ---------------------------------------------------------------- uploads: said once, in the page (issue 18, item 7)

def test_a_refused_upload_says_why_once_and_clears_the_previous_image(app_env):
    import io

    from PIL import Image, ImageDraw

    from helpers import open_app

    picture = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(picture).line([(10, 10), (50, 54)], fill=0, width=8)
    good = io.BytesIO()
    picture.save(good, "PNG")
    at = open_app("draw")
    at.segmented_control(key="draw_source").set_value("upload").run()
    at.file_uploader(key="draw_upload_0").set_value(("one.png", good.getvalue(), "image/png")).run()
    assert "Showing your upload one.png." in texts(at)
    big = b"\x89PNG" + b"\x00" * (6 * 2**20)                       # 6 MB: over the page's 5 MB
    at.file_uploader(key="draw_upload_0").set_value(("huge.png", big, "image/png")).run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "huge.png" in errors[0] and "6.0 MB" in errors[0], errors
    assert "Showing your upload one.png." not in texts(at)         # the old image is gone with it
    assert at.file_uploader(key="draw_upload_1").value is None     # the refused file is not left listed
    at.file_uploader(key="draw_upload_1").set_value(("notes.txt", b"plain words" * 20, "text/plain")).run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "notes.txt" in errors[0] and "not an image" in errors[0], errors


# ---------------------------------------------------------------- Interpolate (issue 18, item 9)

def test_interpolate_heading_names_only_flips_its_frames_show(app_env):
    from explorer.data import get_spec

    at = run_app({"ckpt": "digits/hybrid-10d", "a": "0", "b": "7", "interp_steps": "5"}, "interpolate")
    heading = next(m.value for m in at.markdown if m.value.startswith("#### "))
    frame_labels = set()
    for t in at.select_slider(key="interp_t").options:                   # every frame, as the scrub shows it
        at.select_slider(key="interp_t").set_value(float(t)).run()
        caption = next(c for img in at.image for c in img.captions if c.startswith("t = "))
        frame_labels.add(caption.split("CNN: ")[1].rsplit(" (", 1)[0])
    flips = heading.removeprefix("#### ").split(" (between frames")[0]
    named = {c for c in get_spec("digits").class_names if re.search(rf"\b{re.escape(c)} (to|between)\b|to {c} ", flips)}
    assert named <= frame_labels, (heading, frame_labels)


def test_your_image_as_an_endpoint_shows_in_the_boxes(app_env):
    import io

    from PIL import Image, ImageDraw

    from helpers import open_app

    picture = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(picture).ellipse([12, 12, 52, 52], outline=0, width=8)
    buf = io.BytesIO()
    picture.save(buf, "PNG")
    at = open_app("draw")
    at.segmented_control(key="draw_source").set_value("upload").run()
    at.file_uploader(key="draw_upload_0").set_value(("ring.png", buf.getvalue(), "image/png")).run()
    at.button(key="draw_to_interp").click().run()
    assert at.selectbox(key="interp_a_class").value is None          # not some test class
    assert at.selectbox(key="interp_a_class").proto.placeholder == "Your image"
    assert at.number_input(key="interp_a_nth").disabled
    assert at.selectbox(key="interp_b_class").value is not None
    at.switch_page("ui/pages/interpolate.py").run()                  # AppTest reruns the page it last opened
    at.selectbox(key="interp_a_class").set_value(3).run()            # back to a test image of class 3
    assert "**A**: test image #" in texts(at) and at.number_input(key="interp_a_nth").value == 1


# ---------------------------------------------------------------- Large type reaches charts and pictures (items 3, 4)

def test_large_type_grows_chart_fonts_and_picture_captions(app_env):
    import json

    at = run_app({"ckpt": "digits/cvae-4d"}, "anomalies")
    small = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["font"]["size"]
    widths = [img.proto.imgs[0].url for img in at.image]
    at.sidebar.toggle(key="big_type").set_value(True).run()
    big = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["font"]["size"]
    assert big >= 1.3 * small >= 1.3 * 16
    assert [img.proto.imgs[0].url for img in at.image] != widths    # the captions drawn into images were redrawn


def test_anomaly_rows_wrap_instead_of_shrinking_their_captions(app_env):
    """16 captioned images in one picture would be shrunk to fit the column, and their captions
    with it: they come in several pictures, each narrow enough to show unshrunk."""
    from explorer.figures import grids
    from explorer.ui.widgets import PAGE_PX

    at = run_app({"ckpt": "digits/vae-2d", "anom_n": "16"}, "anomalies")
    assert len(at.image) >= 4                              # two rows of 16 (worst, best), each wrapped
    caption = "#359 · 9999 nats\n0\nCNN 0 (100%)"          # as wide as the page's captions get on digits
    cols = PAGE_PX // (grids.image_grid(np.zeros((1, 1, 8, 8)), 1, [caption], scale=10, font_size=18).width + 4)
    assert grids.image_grid(np.zeros((cols, 1, 8, 8)), cols, [caption] * cols, scale=10, font_size=18).width <= PAGE_PX


def test_large_type_grows_the_maps_text(app_env):
    import json

    at = run_app({"ckpt": "digits/vae-2d"}, "map")

    def sizes():
        layout = json.loads(chart_spec(at))["layout"]
        return layout.get("font", {}).get("size", 16), layout.get("legend", {}).get("font", {}).get("size", 16)

    small = sizes()
    at.sidebar.toggle(key="big_type").set_value(True).run()
    assert not at.exception
    big = sizes()
    assert big[0] >= 1.3 * small[0] and big[1] >= 1.3 * small[1]


def test_a_link_naming_a_default_by_its_label_is_taken_and_a_wrong_value_is_said(app_env):
    # Streamlit writes an option by its label and drops a default from the URL: "UMAP" and
    # "CNN prediction" are the defaults' labels, taken without a word; "bogus" is refused, and said
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update({"ckpt": "digits/hybrid-10d", "map_method": "UMAP", "map_color": "CNN prediction"})
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["map_method"] == "umap" and at.session_state["map_color"] == "predicted"
    assert not at.toast
    wrong = run_app({"ckpt": "digits/hybrid-10d", "map_color": "bogus"})
    assert [t.value for t in wrong.toast] == ["This link's `map_color=bogus` could not be used, so it was ignored."]
