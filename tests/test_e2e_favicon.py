"""End to end, in headless Chromium against the real server: the browser-tab icon is ours, and
moving a slider (a fragment rerun that rewrites the address's query string) fetches it no
more. Fixtures from conftest.py."""
from __future__ import annotations

import re

import pytest

from helpers import WAIT_MS, step

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ICON_JS = "() => document.querySelector(\"link[rel='shortcut icon']\")?.href || ''"


def test_slider_moves_do_not_fetch_the_tab_icon_again(page, server):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    with step(page, "open a page whose sliders sit in a fragment"):
        page.goto(f"{server}/traverse?ckpt=digits/hybrid-10d&trav_base=Origin")
        first = page.locator('[data-testid="stSlider"]').filter(has_text=re.compile(r"^z\d+ · KL")).first
        expect(first).to_be_visible()
        page.wait_for_function(f"(h => h && !h.endsWith('/favicon.png'))(({ICON_JS})())")  # ours, not Streamlit's
        icon = page.evaluate(ICON_JS)
    with step(page, "move the slider four times"):
        before = len(requested)
        slider = first.get_by_role("slider")
        slider.focus()
        for i in range(1, 5):
            page.keyboard.press("ArrowRight")
            expect(slider).to_have_attribute("aria-valuetext", f"{0.05 * i:.2f}")
            page.wait_for_url(re.compile(rf"(%3A|:){re.escape(f'{0.05 * i:g}')}"))  # the address rewritten
        page.wait_for_timeout(500)  # a fetch follows the address change
        fetched = [u for u in requested[before:] if u == icon or "favicon" in u]
    assert fetched == [], fetched
    assert page.evaluate(ICON_JS) == icon
