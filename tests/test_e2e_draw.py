"""End to end: draw a stroke on the Your image canvas in headless Chromium and see the drawing
framed, reconstructed, judged and placed on the map; then turn on the Map page's decision regions.

Reuses the server and browser fixtures of tests/test_e2e.py (the real `streamlit run`, Debian's
Chromium through Playwright). A failing step saves a screenshot in test-artifacts/.
"""
from __future__ import annotations

import re

import pytest

from explorer.tooling.harness import MAP_JS
from helpers import WAIT_MS, step

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CANVAS_FRAME = 'iframe[title="streamlit_drawable_canvas.st_canvas"]'

# The star marking the drawing on the small map: its data position and whether it lies inside the axes.
STAR_JS = """() => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')].find(
      g => g._fullData && g._fullData.some(t => t.name === 'current code'));
  if (!gd) return null;
  const t = gd._fullData.find(t => t.name === 'current code');
  const x = Number(t.x[0]), y = Number(t.y[0]);
  const xr = gd._fullLayout.xaxis.range, yr = gd._fullLayout.yaxis.range;
  return {x, y, inside: x >= Math.min(...xr) && x <= Math.max(...xr) && y >= Math.min(...yr) && y <= Math.max(...yr)};
}"""


def draw_stroke(page, frame_box, points) -> None:
    """Press, move through `points` (fractions of the canvas) and release, as a hand would."""
    x0, y0 = frame_box["x"], frame_box["y"]
    side = 280  # the canvas sits at the top left of its frame
    (fx, fy), rest = points[0], points[1:]
    page.mouse.move(x0 + fx * side, y0 + fy * side)
    page.mouse.down()
    for fx, fy in rest:
        page.mouse.move(x0 + fx * side, y0 + fy * side, steps=8)
    page.mouse.up()


def test_a_person_draws_and_sees_it_placed_on_the_map(page):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)

    with step(page, "open your image"):
        expect(page.get_by_text("Latent plane of 360 test images")).to_be_visible()
        page.get_by_role("link", name="Your image").click()
        expect(page.get_by_text(re.compile(r"^Draw a digit on the canvas, or upload a picture"))).to_be_visible()
        frame = page.locator(CANVAS_FRAME)
        expect(frame).to_be_visible()
        canvas = page.frame_locator(CANVAS_FRAME).locator("canvas").last
        expect(canvas).to_be_visible()
        page.wait_for_timeout(500)

    with step(page, "draw a stroke"):
        box = frame.bounding_box()
        draw_stroke(page, box, [(0.45, 0.15), (0.5, 0.4), (0.55, 0.65), (0.58, 0.85)])
        expect(page.get_by_text("Showing your drawing.")).to_be_visible()
        expect(page.get_by_text("What the model sees")).to_be_visible()
        expect(page.get_by_text("The VAE's reconstruction")).to_be_visible()
        expect(page.get_by_role("cell", name="CNN (classifier)")).to_be_visible()
        expect(page.get_by_role("cell", name="CNN on the reconstruction")).to_be_visible()
        expect(page.get_by_text("Its code is its position")).to_be_visible()

    with step(page, "see it on the map"):
        page.wait_for_function("() => { const f = " + STAR_JS + "; const s = f(); return s && s.inside; }")
        first = page.evaluate(STAR_JS)
        assert first["inside"]

    with step(page, "a second stroke moves the point"):
        draw_stroke(page, box, [(0.2, 0.5), (0.5, 0.45), (0.8, 0.5)])
        page.wait_for_function("(old) => { const f = " + STAR_JS + "; const s = f();"
                               " return s && s.inside && (s.x !== old.x || s.y !== old.y); }", arg=first)

    with step(page, "decision regions on the map"):
        page.get_by_role("link", name="Map").click()
        expect(page.get_by_text("Latent plane of 360 test images")).to_be_visible()
        page.get_by_text("Decision regions").click()
        expect(page.get_by_text(re.compile(r"Background: the class classifier gives"))).to_be_visible()
        page.wait_for_function("() => { const gd = " + MAP_JS + ";"
                               " return gd && gd._fullData && gd._fullData[0].type === 'heatmap'; }")
