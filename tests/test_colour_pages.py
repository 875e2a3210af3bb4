"""Every page on a colour model (32x32 RGB, the `colour-test` set registered for the test): it
draws without an error, and what it shows is in colour, from the decoded image to the picture."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from helpers import COLOUR_NAME, channels_differ, image_urls, texts

PAGES = ["map", "traverse", "interpolate", "generate", "draw", "learn", "anomalies", "model_card", "tour",
         "compare", "train"]


def open_colour_app(root, page: str | None = None, vae: str = "vae-2d"):
    from streamlit.testing.v1 import AppTest
    from helpers import APP, APP_TIMEOUT

    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT)
    at.session_state["map_method"] = "pca"
    at.run()
    if page:
        at.switch_page(f"ui/pages/{page}.py").run()
    at.sidebar.selectbox(key="sb_vae").set_value(root / COLOUR_NAME / vae).run()
    return at


@pytest.fixture
def pictures(monkeypatch):
    """Every picture the pages hand to st.image, as RGB PIL images, in order."""
    import streamlit as st
    from streamlit.delta_generator import DeltaGenerator

    seen: list[Image.Image] = []
    real = DeltaGenerator.image

    def record(self, image, *args, **kwargs):
        if isinstance(image, bytes):
            seen.append(Image.open(io.BytesIO(image)).convert("RGB"))
        elif isinstance(image, Image.Image):
            seen.append(image.convert("RGB"))
        return real(self, image, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "image", record)
    # st.image was bound to the main area's method when streamlit was imported
    monkeypatch.setattr(st, "image", lambda image, *args, **kwargs: record(st._main, image, *args, **kwargs))
    return seen


@pytest.mark.parametrize("page", PAGES)
def test_every_page_draws_a_colour_model_without_an_error(colour_app_env, pictures, page):
    at = open_colour_app(colour_app_env, page)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    if page in ("traverse", "interpolate", "generate", "anomalies", "learn"):
        assert image_urls(at), f"{page} shows no picture"
        # the pictures of the last run (the colour model's): the test images at least are in colour
        assert any(channels_differ(p, at_least=30) for p in pictures[-len(image_urls(at)):]), page


def test_learn_and_the_model_card_say_what_colour_means_for_the_model(colour_app_env):
    learn = texts(open_colour_app(colour_app_env, "learn"))
    assert "three Bernoulli probabilities a pixel" in learn
    card = texts(open_colour_app(colour_app_env, "model_card"))
    assert "32x32 colour (3 channels)" in card


def test_the_maps_selection_shows_the_image_and_its_reconstruction_in_colour(colour_app_env, pictures):
    at = open_colour_app(colour_app_env, "map")
    at.session_state["selected"] = [0, 1]
    at.session_state["selected_for"] = COLOUR_NAME
    at.run()
    assert "2 selected" in texts(at) and not at.exception
    pairs = pictures[-2:]
    assert all(channels_differ(p, at_least=30) for p in pairs)
    # the gap between the image and its reconstruction is white, not a colour
    gap = np.asarray(pairs[0])[:, pairs[0].width // 2]
    assert (gap == 255).all()


def test_the_tour_shows_colour_pictures(colour_app_env, pictures):
    at = open_colour_app(colour_app_env, "tour")
    for _ in range(6):
        if image_urls(at):
            break
        at.button(key="tour_next_top").click().run()
    assert not at.exception
    assert image_urls(at) and any(channels_differ(p, at_least=30) for p in pictures[-len(image_urls(at)):])


@pytest.mark.parametrize("vae", ["cvae-3d", "hybrid-4d"])
def test_traverse_and_generate_take_every_colour_kind(colour_app_env, vae):
    for page in ("traverse", "generate", "interpolate"):
        at = open_colour_app(colour_app_env, page, vae=vae)
        assert not at.exception and not at.error, (page, at.exception, [e.value for e in at.error])


def test_a_grey_checkpoint_filed_under_the_colour_set_is_a_message_naming_both_shapes(colour_app_env):
    import shutil

    from explorer.checkpoints import load_checkpoint, save_checkpoint
    from helpers import tiny_model, tiny_train_cfg

    grey = tiny_model("vae", latent_dim=2, num_classes=3)
    source = load_checkpoint(colour_app_env / COLOUR_NAME / "vae-2d", with_model=False)
    save_checkpoint(colour_app_env / COLOUR_NAME / "vae-grey", grey, grey.cfg, tiny_train_cfg(dataset=COLOUR_NAME),
                    COLOUR_NAME, source.state)
    at = open_colour_app(colour_app_env, "traverse", vae="vae-grey")
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert "8x8 grey (1 channel)" in message and "32x32 colour (3 channels)" in message
    shutil.rmtree(colour_app_env / COLOUR_NAME / "vae-grey")


@pytest.mark.parametrize("side, px, shown", [(8, 84, 80), (28, 84, 84), (32, 84, 96), (64, 84, 128), (64, 260, 256)])
def test_pictures_keep_a_readable_size_at_every_side(side, px, shown):
    from types import SimpleNamespace

    from explorer.ui.widgets import scale_for

    assert scale_for(SimpleNamespace(image_side=side), px) * side == shown
