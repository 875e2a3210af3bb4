"""A pick on the Map's chart: the picture beside the map, the map's figure unchanged (so the
browser keeps the map drawn; tests/test_e2e_map_click.py counts its draws), the pick in the link,
and rung on the map by the next figure the page makes (AppTest, tiny checkpoints)."""
from __future__ import annotations

import base64
import json

import numpy as np

from helpers import chart_event, chart_spec, open_app, texts


def _pick(at, index: int) -> None:
    """A click on test point `index`, as the chart reports it."""
    at.session_state["map_chart"] = chart_event([{"customdata": [index], "x": 0.0, "y": 0.0}])
    at.run()
    assert not at.exception, at.exception


def _rings(spec: str) -> list[int]:
    """The test indices rung on the map (plotly writes numeric arrays as base64 with their dtype)."""
    out = []
    for t in json.loads(spec)["data"]:
        if t.get("name") == "selected":
            cd = t["customdata"]
            out += cd if isinstance(cd, list) else np.frombuffer(base64.b64decode(cd["bdata"]), cd["dtype"]).tolist()
    return out


def test_a_pick_on_the_chart_shows_its_image_and_leaves_the_figure_as_it_was(app_env):
    at = open_app()
    drawn = chart_spec(at)
    # before a pick the panel already holds its heading, a Clear that cannot be pressed yet and
    # a blank picture where the pick's will be (so it does not jump when the pick comes)
    assert "**Nothing selected**" in texts(at)
    assert at.button(key="map_clear").disabled
    assert [cap for img in at.image for cap in img.captions] == ["image | reconstruction"]
    _pick(at, 7)
    assert "1 selected" in texts(at)
    assert not at.button(key="map_clear").disabled
    assert [cap for img in at.image for cap in img.captions] == ["#7"]
    assert at.query_params["sel"] == "7"  # the link holds the pick
    assert chart_spec(at) == drawn  # the same figure: the browser's map is not drawn again
    _pick(at, 9)  # another pick replaces it, the map still as drawn
    assert [cap for img in at.image for cap in img.captions] == ["#9"]
    assert at.query_params["sel"] == "9"
    assert chart_spec(at) == drawn


def test_the_next_figure_rings_the_pick_and_clear_removes_it(app_env):
    at = open_app()
    _pick(at, 7)
    at.selectbox(key="map_color").set_value("label").run()  # a new figure: it rings the pick
    assert not at.exception
    assert _rings(chart_spec(at)) == [7]
    assert [cap for img in at.image for cap in img.captions] == ["#7"]
    at.button(key="map_clear").click().run()
    assert "Click a point" in texts(at)
    assert _rings(chart_spec(at)) == []
    assert "sel" not in at.query_params


def test_a_pick_from_another_page_is_rung_at_once(app_env):
    at = open_app()
    at.session_state["selected"] = [5]
    at.session_state["selected_for"] = "digits"
    at.run()
    assert _rings(chart_spec(at)) == [5]


def test_a_box_on_the_chart_shows_the_first_images_and_leaves_the_figure_as_it_was(app_env):
    at = open_app()
    drawn = chart_spec(at)
    points = [{"customdata": [i], "x": 0.0, "y": 0.0} for i in range(30)]
    at.session_state["map_chart"] = chart_event(points)
    at.run()
    assert not at.exception
    assert "**30 selected** (first 5)" in texts(at)
    assert [cap for img in at.image for cap in img.captions] == [f"#{i}" for i in range(5)]
    assert chart_spec(at) == drawn


def test_a_pick_survives_a_visit_to_another_page(app_env):
    # Streamlit drops the chart's state while the Map is away for a run: no clearing
    at = open_app()
    _pick(at, 7)
    at.switch_page("ui/pages/traverse.py").run()
    assert not at.exception
    at.switch_page("ui/pages/map.py").run()
    assert not at.exception
    assert at.session_state["selected"] == [7]
    assert at.query_params["sel"] == "7"
    assert [cap for img in at.image for cap in img.captions] == ["#7"]
    assert _rings(chart_spec(at)) == [7]   # a new chart: the pick rung on it


def test_a_pick_and_a_new_colouring_in_one_run_ring_the_new_pick(app_env):
    at = open_app()
    _pick(at, 7)
    at.session_state["map_chart"] = chart_event([{"customdata": [9], "x": 0.0, "y": 0.0}])
    at.selectbox(key="map_color").set_value("label").run()   # both reach the same run
    assert not at.exception
    assert [cap for img in at.image for cap in img.captions] == ["#9"]
    assert _rings(chart_spec(at)) == [9]
