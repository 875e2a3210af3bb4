"""End to end at 1280x720 (a classroom projector): the Map page, its legend, its export buttons and
the sidebar's boxes fit on the screen; a box of many points keeps their colours and a double-click
clears it; a drawn image's star sits on the map, large and on top.
"""
from __future__ import annotations

import re

import pytest

from explorer.tooling.harness import MAP_FRAME, MAP_JS, PLOT_SHOWN_JS, POINT_JS
from helpers import WAIT_MS, step

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROJECTOR = {"width": 1280, "height": 720}

# The plot area (inside the axes) and the legend's box, in page pixels.
BOXES_JS = """() => {
  const gd = """ + MAP_JS + """;
  const f = gd.ownerDocument.defaultView.frameElement;  // the chart's iframe: its offset on the page
  const o = f ? f.getBoundingClientRect() : {left: 0, top: 0};
  const s = gd._fullLayout._size, r = gd.getBoundingClientRect();
  const legend = gd.querySelector('.legend').getBoundingClientRect();
  const left = o.left + r.left, top = o.top + r.top;
  return {plot: {left: left + s.l, right: left + s.l + s.w, top: top + s.t, bottom: top + s.t + s.h},
          chart_bottom: o.top + r.bottom, legend: {left: o.left + legend.left, right: o.left + legend.right}};
}"""

CANVAS_FRAME = 'iframe[title="streamlit_drawable_canvas.st_canvas"]'

STAR_JS = """() => {
  const gd = """ + MAP_JS + """;
  if (!gd || !gd._fullData) return null;
  const t = gd._fullData.find(t => t.name === 'your image');
  if (!t) return null;
  const xr = gd._fullLayout.xaxis.range, yr = gd._fullLayout.yaxis.range, x = Number(t.x[0]), y = Number(t.y[0]);
  return {size: t.marker.size, last: gd._fullData.indexOf(t) === gd._fullData.length - 1,
          inside: x >= Math.min(...xr) && x <= Math.max(...xr) && y >= Math.min(...yr) && y <= Math.max(...yr)};
}"""


def in_view(box) -> bool:
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PROJECTOR["height"]


def test_the_map_fits_a_projector_and_a_box_keeps_its_colours(page):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    page.set_viewport_size(PROJECTOR)
    with step(page, "the map, its buttons and caption on one screen"):
        expect(page.get_by_text(re.compile(r"^Latent plane of 360 test images"))).to_be_visible()
        page.wait_for_function(PLOT_SHOWN_JS)
        boxes = page.evaluate(BOXES_JS)
        assert boxes["chart_bottom"] <= PROJECTOR["height"]
        for name in ("PNG", "HTML", "CSV"):
            assert in_view(page.get_by_role("button", name=name, exact=True).bounding_box()), name
        assert page.get_by_text(re.compile(r"^Latent plane of 360")).bounding_box()["y"] < PROJECTOR["height"] - 20
        assert boxes["legend"]["left"] >= boxes["plot"]["right"] - 1  # the legend is beside the plot, not over it
        first = page.locator('[data-testid="stMain"] [data-testid="stElementContainer"]').first.bounding_box()
        assert first["y"] < 40  # no empty band above the page
    with step(page, "the sidebar's boxes without scrolling"):
        for label in ("VAE checkpoint", "Classifier (judges every image)"):
            assert in_view(page.get_by_role("combobox", name=label).bounding_box()), label
        assert in_view(page.get_by_text("Large type (projector)").bounding_box())
    with step(page, "a box of many points keeps their colours"):
        plot = page.evaluate(BOXES_JS)["plot"]
        page.mouse.move((plot["left"] + plot["right"]) / 2, (plot["top"] + plot["bottom"]) / 2)
        page.frame_locator(MAP_FRAME).locator('.modebar-btn[data-val="select"]').first.click()  # plotly's box-select tool
        page.mouse.move(plot["left"] + 2, plot["top"] + 2)
        page.mouse.down()
        page.mouse.move(plot["right"] - 2, plot["bottom"] - 2, steps=8)
        page.mouse.up()
        expect(page.get_by_text(re.compile(r"^\d+ selected"))).to_be_visible()
        page.wait_for_function("() => " + MAP_JS + "._fullData"
                               ".some(t => t.selectedpoints && t.selectedpoints.length > 0)")
        names = page.evaluate("() => " + MAP_JS + "._fullData.map(t => t.name)")
        assert "selected" not in names  # no ring per point: the rest are dimmed instead
    with step(page, "a double-click clears the selection, even on a point"):
        # its first click picks the point under it: the letting go must still come last
        point = page.evaluate(POINT_JS, 0.5)
        page.mouse.dblclick(point["x"], point["y"])
        expect(page.get_by_text(re.compile(r"^Click a point, or drag a box"))).to_be_visible()
    with step(page, "a slow double-click too"):
        # 350 ms apart: a double-click to the browser (its second mouse-down counts 2), two clicks
        # to plotly.js (300 ms), as a busy machine makes of a quick one; the first may pick the
        # point, the second lets go
        page.mouse.click(point["x"], point["y"])
        page.wait_for_timeout(350)
        page.mouse.down(click_count=2)
        page.mouse.up(click_count=2)
        expect(page.get_by_text(re.compile(r"^Click a point, or drag a box"))).to_be_visible()
        page.wait_for_timeout(1500)  # the first click's pick, if it is answered late, must not come back
        expect(page.get_by_text(re.compile(r"^Click a point, or drag a box"))).to_be_visible()


def test_a_drawn_image_is_a_star_on_the_map(page):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    page.set_viewport_size(PROJECTOR)
    with step(page, "draw"):
        expect(page.get_by_text(re.compile(r"^Latent plane of 360 test images"))).to_be_visible()
        page.get_by_role("link", name="Your image").click()
        frame = page.locator(CANVAS_FRAME)
        expect(page.frame_locator(CANVAS_FRAME).locator("canvas").last).to_be_visible()
        page.wait_for_timeout(500)
        box = frame.bounding_box()  # the 280 px canvas sits at the top left of its frame
        page.mouse.move(box["x"] + 126, box["y"] + 42)
        page.mouse.down()
        page.mouse.move(box["x"] + 160, box["y"] + 240, steps=12)
        page.mouse.up()
        expect(page.get_by_text("Showing your drawing.")).to_be_visible()
    with step(page, "the star on the map"):
        page.get_by_role("link", name="Map").click()
        expect(page.get_by_text(re.compile(r"Star: your drawing"))).to_be_visible()
        page.wait_for_function("() => { const f = " + STAR_JS + "; const s = f(); return s && s.inside; }")
        star = page.evaluate(STAR_JS)
        assert star["size"] >= 30 and star["last"]  # large, and drawn over every other trace
