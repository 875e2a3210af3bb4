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


@pytest.mark.parametrize("page", PAGES)
def test_every_page_draws_a_colour_model_without_an_error(colour_app_env, page):
    at = open_colour_app(colour_app_env, page)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    if page not in ("map", "draw", "tour", "train", "compare", "model_card", "learn"):
        assert image_urls(at), f"{page} shows no picture"


@pytest.mark.parametrize("vae", ["cvae-3d", "hybrid-4d"])
def test_traverse_and_generate_take_every_colour_kind(colour_app_env, vae):
    for page in ("traverse", "generate", "interpolate"):
        at = open_colour_app(colour_app_env, page, vae=vae)
        assert not at.exception and not at.error, (page, at.exception, [e.value for e in at.error])
