"""End to end: the real `streamlit run explorer/app.py`, driven in headless Chromium as a person would.

Open the map, click a point, go to Interpolate, take the clicked image as an endpoint and
scrub along the path with the keyboard, go to Generate, switch to the conditional VAE and
pick a class; each step waits for what the page then shows. A failing step saves a
screenshot in test-artifacts/.

Uses Debian's Chromium (/usr/bin/chromium, or $EXPLORER_CHROMIUM) through Playwright's
Python package; Playwright's own browser download is not used. `make chromium` installs it.
"""
from __future__ import annotations

import re

import pytest

from explorer.tooling.harness import MAP_FRAME, PLOT_SHOWN_JS, POINT_JS
from helpers import WAIT_MS, step

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_person_walks_through_the_app(page):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)

    with step(page, "open the map"):
        expect(page.get_by_text("Latent plane of 360 test images")).to_be_visible()
        expect(page.frame_locator(MAP_FRAME).locator(".js-plotly-plot canvas").first).to_be_attached()
        page.wait_for_function(PLOT_SHOWN_JS)

    with step(page, "click a point"):
        point = page.evaluate(POINT_JS)
        page.mouse.move(point["x"], point["y"])
        page.wait_for_timeout(300)
        page.mouse.click(point["x"], point["y"])
        expect(page.get_by_text("1 selected")).to_be_visible()
        caption = page.locator('[data-testid="stImageCaption"]').filter(has_text=re.compile(r"^#\d+$"))
        expect(caption).to_be_visible()
        picked = int(caption.inner_text()[1:])  # the point under the cursor
        expect(page.get_by_text(re.compile(r"CNN: \d \(\d+%\)\s+recon: \d \(\d+%\)"))).to_be_visible()

    with step(page, "go to interpolate"):
        page.get_by_role("link", name="Interpolate").click()
        expect(page.get_by_text("Scrub along the path")).to_be_visible()
        page.get_by_role("button", name="From map").first.click()
        expect(page.get_by_text(f"test image #{picked} (")).to_be_visible()
        expect(page.locator("h4").filter(has_text=re.compile(r"t = \d\.\d\d: .+ to |No flip"))).to_be_visible()

    with step(page, "scrub along the path"):
        expect(page.get_by_text(re.compile(r"^t = 0\.00 · CNN: "))).to_be_visible()
        slider = page.locator('[data-testid="stSlider"]').filter(has_text="Scrub along the path")
        slider.get_by_role("slider").focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        expect(page.get_by_text(re.compile(r"^t = 0\.20 · CNN: \d \(\d+%\)$"))).to_be_visible()

    with step(page, "go to generate and pick a class"):
        page.get_by_role("link", name="Generate").click()
        expect(page.get_by_text(re.compile(r"^Mean code of 0 · CNN: "))).to_be_visible()
        page.get_by_role("combobox", name="VAE checkpoint").click()
        page.get_by_role("option", name=re.compile(r"^cvae-4d")).click()
        expect(page.get_by_text(re.compile(r"^Asked for 0 · CNN: "))).to_be_visible()
        page.get_by_role("radiogroup", name="Class").get_by_role("radio", name="7", exact=True).click()
        expect(page.get_by_text(re.compile(r"^Asked for 7 · CNN: \d \(\d+%\)$"))).to_be_visible()
        expect(page.get_by_text("Samples of every class")).to_be_visible()
