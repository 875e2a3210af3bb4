"""End to end: a click on the map shows the point's picture beside it, marks the point on the map,
keeps it in the link, and leaves the drawn map alone (plotly.js draws it no second time: a
pick reruns only the map's fragment, with the same figure)."""
from __future__ import annotations

import re

import pytest

from explorer.tooling.harness import DRAWS_JS, MAP_JS, POINT_JS
from explorer.tooling.harness import PLOT_SHOWN_JS
from helpers import WAIT_MS, step

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# the test index of the point the chart rings (a shape anchored at a point of the map), or null
MARKED_JS = """() => {
  const gd = """ + MAP_JS + """;
  const rings = (gd.layout.shapes || []).filter(s => s.type === 'circle' && s.line.color === '#000000');
  if (rings.length !== 1) return null;
  for (const t of gd._fullData) {
    if (!t.x || !t.customdata) continue;
    for (let i = 0; i < t.x.length; i++)
      if (t.x[i] === rings[0].xanchor && t.y[i] === rings[0].yanchor) return Number(t.customdata[i]);
  }
  return null;
}"""


def _click(page, at: float, before: str | None) -> str:
    """Click the point at fraction `at` of the map's biggest trace; the caption of the picture
    then shown, "#i" or "train #j" (plotly picks the nearest point: on this small plane, one may
    lie on another)."""
    from playwright.sync_api import expect

    point = page.evaluate(POINT_JS, at)  # also starts counting the map's draws
    page.mouse.move(point["x"], point["y"])
    page.wait_for_timeout(300)
    page.mouse.click(point["x"], point["y"])
    expect(page.get_by_text("1 selected")).to_be_visible()
    caption = page.locator('[data-testid="stImageCaption"]').filter(has_text=re.compile(r"^(train )?#\d+$"))
    expect(caption).to_be_visible()
    if before is not None:
        expect(caption).not_to_have_text(before)  # the new pick's picture, not the last one's
    return caption.inner_text()


def test_a_click_shows_the_picture_and_leaves_the_map_drawn(page):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    with step(page, "open the map"):
        expect(page.get_by_text("Latent plane of 360 test images")).to_be_visible()
        page.wait_for_function(PLOT_SHOWN_JS)
        page.wait_for_timeout(1000)

    shown = None
    for n, at in enumerate((0.5, 0.2)):
        with step(page, f"click a point ({n + 1})"):
            shown = _click(page, at, shown)
            picked = int(shown[1:])
            page.wait_for_timeout(1000)  # anything the click still draws, drawn
            assert page.evaluate(DRAWS_JS) == 0  # the same map element, not drawn again
            assert page.evaluate(MARKED_JS) == picked  # the chart marks the picked point
            assert re.search(rf"[?&]sel={picked}(&|$)", page.url)  # the link holds the pick

    with step(page, "Clear takes the ring away and leaves the map drawn"):
        page.evaluate(POINT_JS, 0.5)  # counts the map's draws from here
        page.get_by_role("button", name="Clear").click()
        expect(page.get_by_text("Nothing selected")).to_be_visible()
        page.wait_for_function("() => (" + MARKED_JS + ")() === null")
        page.wait_for_timeout(500)
        assert page.evaluate(DRAWS_JS) == 0
        shown = _click(page, 0.5, None)
        picked = int(shown[1:])

    with step(page, "a new figure twice keeps the pick"):
        # another colouring is another chart to Streamlit, whose selection starts empty: the pick stays
        for colour in ("True label", "CNN prediction"):
            page.get_by_role("combobox", name="Colour by").click()
            page.get_by_role("option", name=colour, exact=True).click()
            expect(page.get_by_text(re.compile(rf"Colour: {colour}\."))).to_be_visible()
            page.wait_for_timeout(1000)
            expect(page.get_by_text("1 selected")).to_be_visible()
            expect(page.get_by_text(f"#{picked}", exact=True)).to_be_visible()


def test_the_training_set_drawn_after_its_work_and_a_click_on_it(page):
    """The whole map's background work shows its progress inside the map's fragment, then the
    page runs again and draws both sets; a click there still shows a picture."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    with step(page, "turn on the training set"):
        expect(page.get_by_text("Latent plane of 360 test images")).to_be_visible()
        page.get_by_text("Training set too").click()
        expect(page.get_by_text(re.compile(r"Latent plane of 360 test images and [\d,]+ training images"))).to_be_visible()
        page.wait_for_function(PLOT_SHOWN_JS)
        page.wait_for_timeout(1000)
    with step(page, "click a point of both sets' map"):
        _click(page, 0.5, None)
        page.wait_for_timeout(1000)
        assert page.evaluate(DRAWS_JS) == 0
