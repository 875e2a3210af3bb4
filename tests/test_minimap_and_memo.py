"""What page reruns reuse: the small map picture with its moving star (explorer/figures/minimap.py), the
decoded strips and figures cached across sessions (explorer/ui/cache/), and that the caches
keep sessions apart: a session sees its own checkpoint's pictures, never another's."""
from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.analysis import latent
from explorer.figures import minimap, plots
from explorer.checkpoints import load_checkpoint
from helpers import APP


# ---------------------------------------------------------------- the small map picture

def _rgb(hex_color: str) -> np.ndarray:
    return np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])


def test_the_small_map_draws_each_point_in_its_class_colour_where_it_lies():
    coords = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    classes = np.array([0, 1, 2, 3])
    mini = minimap.draw(coords, classes, width=200, height=200, opacity=1.0, point_px=8)
    pixels = np.asarray(mini.image).astype(int)
    for (x, y), k in zip(coords, classes):
        px, py = (int(round(v)) for v in mini.pixel(x, y))
        assert np.abs(pixels[py, px] - _rgb(plots.class_color(k))).max() < 40, (k, pixels[py, px])
    # up is up: the point at y = 10 is drawn above the one at y = 0
    assert mini.pixel(0.0, 10.0)[1] < mini.pixel(0.0, 0.0)[1]
    middle = pixels[100, 100]
    assert (middle > 240).all()  # nothing drawn between the points


def test_equal_axes_keep_one_unit_as_long_on_both_axes():
    coords = np.array([[0.0, 0.0], [4.0, 1.0]])
    mini = minimap.draw(coords, np.array([0, 1]), width=300, height=300, equal_axes=True)
    assert (mini.x1 - mini.x0) == pytest.approx(mini.y1 - mini.y0)
    free = minimap.draw(coords, np.array([0, 1]), width=300, height=300, equal_axes=False)
    assert (free.x1 - free.x0) > 2 * (free.y1 - free.y0)


def test_the_star_moves_on_a_copy_and_stays_on_the_picture():
    coords = np.random.default_rng(0).normal(size=(300, 2))
    mini = minimap.draw(coords, np.zeros(300, dtype=int), width=160, height=120, equal_axes=False)
    before = np.asarray(mini.image).copy()
    starred = np.asarray(minimap.with_star(mini, 0.0, 0.0)).astype(int)
    np.testing.assert_array_equal(np.asarray(mini.image), before)   # the shared map is never drawn on
    px, py = (int(round(v)) for v in mini.pixel(0.0, 0.0))
    gold = _rgb("#FFD700")
    assert np.abs(starred[py, px] - gold).max() < 60                  # the star's centre is gold
    far = np.asarray(minimap.with_star(mini, 1e6, -1e6)).astype(int)  # off the map: pinned to its corner
    assert np.abs(far[-4, -4] - gold).max() < 60


def test_a_path_and_rings_are_drawn_and_the_extent_holds_them():
    coords = np.zeros((5, 2))
    path = np.array([[-3.0, -3.0], [3.0, 3.0]])
    mini = minimap.draw(coords, np.zeros(5, dtype=int), width=200, height=200, path=path,
                        selected=np.array([[3.0, 3.0]]))
    assert mini.x0 < -3 and mini.x1 > 3 and mini.y0 < -3 and mini.y1 > 3
    pixels = np.asarray(mini.image).astype(int)
    mx, my = (int(round(v)) for v in mini.pixel(-1.5, -1.5))  # on the line from (-3,-3) to (3,3)
    assert pixels[my, mx].max() < 100                         # the path's dark line


# ---------------------------------------------------------------- cached decoding, and sessions kept apart

def test_cached_decoding_answers_as_the_model_does(tiny_checkpoints):
    from explorer.ui import cache
    from explorer.ui.state import Context
    from explorer.data import load_dataset

    data = load_dataset("digits", "test")

    def context(name: str) -> Context:
        ck = load_checkpoint(tiny_checkpoints / "digits" / name, with_model=False)
        model = load_checkpoint(ck.path).model
        mu, logvar = latent.encode(model, data.images, data.labels if ck.kind == "cvae" else None)
        clf = tiny_checkpoints / "digits" / "classifier"
        return Context(dataset="digits", data=data, vae=ck, vae_key=f"{ck.path}@test", classifier_path=clf,
                       classifier_name="classifier", mu=mu, logvar=logvar, pred=None, proba=None, classifier_key=f"{clf}@test")

    z = np.random.default_rng(0).normal(size=(6, 2)).astype(np.float32)
    plain = context("vae-2d")
    got = cache.decoded(plain, z)
    want = latent.decode(load_checkpoint(plain.vae.path).model, z)
    np.testing.assert_allclose(got.images, want, atol=1e-6)
    pred, proba = latent.classify(load_checkpoint(plain.classifier_path).model, want)
    np.testing.assert_array_equal(got.pred, pred)
    np.testing.assert_allclose(got.proba, proba, atol=1e-6)
    # another checkpoint asked the same question gets its own answer, and the first keeps its own
    cvae = context("cvae-4d")
    z4 = np.zeros((3, 4), np.float32)
    as_three = cache.decoded(cvae, z4, 3)
    as_five = cache.decoded(cvae, z4, 5)
    assert not np.allclose(as_three.images, as_five.images)  # the cvae's condition is part of the question
    np.testing.assert_allclose(cache.decoded(plain, z).images, want, atol=1e-6)


def _grid_and_images(at: AppTest) -> list[str]:
    return sorted(url for img in at.image for url in img.value)


def test_two_sessions_on_different_checkpoints_each_see_their_own_traverse_page(app_env, tiny_checkpoints):
    """The strips, figures and map pictures are cached for every session: a session on another
    checkpoint must get its own pictures, and the first session's must not change."""
    a = AppTest.from_file(str(APP), default_timeout=60)
    a.session_state["map_method"] = "pca"
    a.run()
    a.switch_page("ui/pages/traverse.py").run()
    first = _grid_and_images(a)
    b = AppTest.from_file(str(APP), default_timeout=60)
    b.session_state["map_method"] = "pca"
    b.run()
    b.switch_page("ui/pages/traverse.py").run()
    b.sidebar.selectbox(key="sb_vae").set_value(tiny_checkpoints / "digits" / "hybrid-10d").run()
    assert not a.exception and not b.exception
    other = _grid_and_images(b)
    assert set(first).isdisjoint(other)        # not one picture in common: other models, other images
    a.run()
    assert _grid_and_images(a) == first        # the first session's page is as it was
    assert "Where it is on the PCA map" in " ".join(c.value for c in b.caption)


# ---------------------------------------------------------------- torch's threads

def test_the_app_runs_torch_on_one_thread_and_latent_calls_leave_the_count_alone(tiny_checkpoints):
    """A slider move decodes one image on one thread (the server sets it once, before its first
    model loads); a call into explorer.analysis.latent never changes torch's process-wide count."""
    import streamlit as st
    import torch

    from explorer.ui import cache

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        model = load_checkpoint(tiny_checkpoints / "digits" / "vae-2d").model
        latent.decode(model, np.zeros((1, 2), np.float32))
        latent.decode(model, np.zeros((200, 2), np.float32))
        assert torch.get_num_threads() == 2
        st.cache_resource.clear()  # a fresh server: no model loaded yet
        cache.checkpoint(tiny_checkpoints / "digits" / "vae-2d")
        assert torch.get_num_threads() == cache.models.TORCH_THREADS == 1
    finally:
        torch.set_num_threads(before)
