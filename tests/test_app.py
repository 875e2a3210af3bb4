"""App tests: every page renders with tiny checkpoints, its main controls change what it
shows, and wrong inputs give a message in the page, never an exception.

Driven by streamlit.testing.v1.AppTest; widgets are found by key. The app sees only the
tiny checkpoints of tests/helpers.py (EXPLORER_CHECKPOINTS_ONLY=1).
"""
from __future__ import annotations

import numpy as np
import pytest

from explorer.analysis import latent
from explorer.checkpoints import load_checkpoint
from explorer.data import load_dataset
from helpers import chart_spec, image_urls, open_app, texts


# ---------------------------------------------------------------- Map

def test_map_opens_on_the_default_checkpoint_as_its_own_plane(app_env):
    at = open_app(method=None)
    assert at.sidebar.selectbox(key="sb_dataset").value == "digits"
    assert at.sidebar.selectbox(key="sb_vae").value.name == "vae-2d"
    assert at.segmented_control(key="map_method").value == "plane"
    assert "Latent plane of 360 test images" in texts(at)
    assert not at.error


def test_map_method_and_colour_switch_change_the_map(app_env):
    at = open_app(method=None)
    plane_spec = chart_spec(at)
    at.segmented_control(key="map_method").set_value("pca").run()
    assert not at.exception
    assert "PCA of 360 test images" in texts(at)
    assert chart_spec(at) != plane_spec
    at.selectbox(key="map_color").set_value("correct").run()
    assert not at.exception
    assert "misclassified" in chart_spec(at)
    assert "Colour: Correct / misclassified" in texts(at)


def test_map_selection_shows_images_reconstructions_and_verdicts(app_env):
    at = open_app()
    at.session_state["selected"] = [5, 7]
    at.session_state["selected_for"] = "digits"
    at.run()
    assert "2 selected" in texts(at)
    assert [cap for img in at.image for cap in img.captions] == ["#5", "#7"]
    verdicts = [m.value for m in at.markdown if "recon: " in m.value]
    assert len(verdicts) == 2 and all("CNN: " in v and "recon: " in v for v in verdicts)
    at.button(key="map_clear").click().run()
    assert "Click a point" in texts(at)


def test_a_failing_projection_is_an_error_in_the_page(app_env):
    at = open_app()
    at.segmented_control(key="map_method").set_value("tsne").run()
    at.slider(key="map_tsne_perp").set_value(190.0)
    at.button(key="map_apply").click().run()
    assert not at.exception
    assert any("could not be computed" in e.value for e in at.error)
    assert "Click a point" in texts(at)  # the selection panel still works


# ---------------------------------------------------------------- Traverse

def test_traverse_slider_moves_the_decoded_image(app_env):
    at = open_app("traverse")
    sliders = [s for s in at.slider if s.key and s.key.startswith("trav_z")]
    assert len(sliders) == 2  # one per latent dimension of vae-2d
    image = next(img for img in at.image if img.captions[0].startswith("CNN:"))
    before = image.value
    s = sliders[0]
    s.set_value(s.max if s.value < s.max - 0.5 else s.min).run()
    assert not at.exception
    image = next(img for img in at.image if img.captions[0].startswith("CNN:"))
    assert image.value != before
    assert "Traversal grid" in [h.value for h in at.subheader]


def test_other_pages_place_codes_on_the_map_computed_on_the_map_page(app_env):
    at = open_app(method=None)
    at.segmented_control(key="map_method").set_value("tsne").run()
    assert "t-SNE of 360 test images" in texts(at)
    at.switch_page("ui/pages/traverse.py").run()
    assert not at.exception
    assert "Where it is on the t-SNE map" in texts(at)


def test_traverse_from_a_class_mean(app_env):
    at = open_app("traverse")
    at.segmented_control(key="trav_base").set_value("class").run()
    at.selectbox(key="trav_class").set_value(3).run()
    assert not at.exception
    assert "the mean code of class 3" in texts(at)


# ---------------------------------------------------------------- Interpolate

def test_interpolate_strip_flip_and_scrub(app_env):
    at = open_app("interpolate")
    headline = at.markdown[0].value if at.markdown else ""
    assert "t = " in texts(at) or "No flip" in texts(at), headline
    at.select_slider(key="interp_t").set_value(0.3).run()
    assert not at.exception
    assert any(cap.startswith("t = 0.30 · CNN: ") for img in at.image for cap in img.captions)


def test_interpolate_endpoints_from_map_class_and_random(app_env):
    at = open_app("interpolate")
    at.session_state["selected"] = [42]
    at.session_state["selected_for"] = "digits"
    at.run()
    at.button(key="interp_a_from_map").click().run()
    assert "test image #42" in texts(at)
    at.selectbox(key="interp_b_class").set_value(9).run()
    assert not at.exception
    b_caption = next(c.value for c in at.caption if c.value.startswith("**B**"))
    assert "(9);" in b_caption
    at.segmented_control(key="interp_method").set_value("slerp").run()
    at.button(key="interp_b_random").click().run()
    assert not at.exception


# ---------------------------------------------------------------- Generate

def test_generate_with_a_cvae_makes_the_chosen_class(app_env, tiny_checkpoints):
    at = open_app("generate", vae="cvae-4d", root=tiny_checkpoints)
    assert "Asked for 0 · CNN:" in texts(at)
    at.segmented_control(key="gen_class").set_value(7).run()
    assert not at.exception
    assert "Asked for 7 · CNN:" in texts(at)
    headers = [h.value for h in at.subheader]
    assert "Samples of every class" in headers and "Style swap" in headers
    assert sum("agree" in m.value for m in at.markdown) == 10  # one share per class row
    before = image_urls(at)
    at.button(key="gen_reseed").click().run()
    assert image_urls(at) != before


def generate_code(at) -> np.ndarray:
    """The code the Generate page decodes for a 2-D VAE: its two sliders (both dimensions)."""
    by_dim = {int(s.key.removeprefix("gen_z")): s.value for s in at.slider if s.key.startswith("gen_z")}
    return np.array([by_dim[d] for d in sorted(by_dim)])


def test_generate_with_a_plain_vae_explains_prior_and_class_means(app_env, tiny_checkpoints):
    at = open_app("generate")
    headers = [h.value for h in at.subheader]
    assert "Samples from the prior" in headers and "Class-mean codes" in headers
    assert "cannot be asked for a class" in texts(at)
    assert "Mean code of 0 · CNN:" in texts(at)
    next(s for s in at.slider if s.key.startswith("gen_z")).set_value(3.0).run()   # the code moved by hand
    assert 3.0 in generate_code(at)
    at.segmented_control(key="gen_class").set_value(4).run()
    assert "Mean code of 4 · CNN:" in texts(at)
    # the page decodes class 4's mean test code, the hand-moved slider reset to it. The code is
    # compared, not the picture: a barely trained model may draw the class-0 and class-4 means
    # as the same PNG on some CPUs.
    data = load_dataset("digits", "test")
    mu, _ = latent.encode(load_checkpoint(tiny_checkpoints / "digits" / "vae-2d").model, data.images)
    want = np.clip(latent.class_means(mu, data.labels, 10)[4], -3.5, 3.5)
    np.testing.assert_allclose(generate_code(at), want, atol=0.006)  # the sliders round to 0.01


def test_hybrid_judged_by_its_own_head(app_env, tiny_checkpoints):
    at = open_app("traverse", vae="hybrid-10d", root=tiny_checkpoints)
    at.sidebar.selectbox(key="sb_classifier").set_value("__head__").run()
    assert not at.exception and not at.error
    assert any(cap.startswith("CNN: ") for img in at.image for cap in img.captions)
    assert len([s for s in at.slider if s.key.startswith("trav_z")]) == 10  # 8 shown, 2 in the expander
    assert len([e for e in at.expander if "more dimensions" in e.label]) == 1


# ---------------------------------------------------------------- wrong inputs

@pytest.mark.parametrize("page", ["map", "traverse", "interpolate", "generate"])
def test_a_broken_checkpoint_is_a_message_not_a_traceback(app_env, tiny_checkpoints, page):
    at = open_app(page, vae="broken", root=tiny_checkpoints)
    assert not at.exception
    assert any("cannot be loaded" in e.value and "config.json" in e.value for e in at.error)


def test_a_classifier_for_another_dataset_is_refused_and_the_page_still_works(app_env, tiny_checkpoints):
    at = open_app("traverse")
    at.sidebar.selectbox(key="sb_classifier").set_value(tiny_checkpoints / "digits" / "clf-fashion").run()
    assert not at.exception
    assert any("trained on fashion-mnist, not on digits" in e.value for e in at.error)
    assert any(cap == "CNN: no classifier" for img in at.image for cap in img.captions)


def test_a_missing_dataset_is_a_message(app_env):
    at = open_app()
    at.sidebar.selectbox(key="sb_dataset").set_value("mnist").run()
    assert not at.exception
    assert any("mnist test set cannot be loaded" in e.value for e in at.error)


def test_on_digits_the_map_says_how_to_get_fashion_mnist(app_env, monkeypatch):
    import explorer.data
    from explorer.ui import cache

    monkeypatch.setattr(explorer.data, "available_datasets", lambda data_dir=None: ["digits"])
    cache.available.clear()
    try:
        at = open_app()
        assert any("python -m explorer fetch-data fashion-mnist" in i.value and "dataset-fashion-mnist" in i.value
                   for i in at.info)
    finally:
        cache.available.clear()
