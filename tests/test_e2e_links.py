"""End to end, in headless Chromium against the real server (issue 18): a Traverse slider moved
with the arrow keys comes back from the link in a new page, and with Large type a button's label
is not cut ("Cle..."). Fixtures from conftest.py."""
from __future__ import annotations

import re

import pytest

from helpers import VIEWPORT, WAIT_MS, step

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_traverse_link_keeps_the_slider_and_large_type_keeps_labels_whole(page, server):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    with step(page, "move a slider with the arrow keys"):
        page.goto(f"{server}/traverse?ckpt=digits/hybrid-10d&trav_base=Origin")
        first = page.locator('[data-testid="stSlider"]').filter(has_text=re.compile(r"^z\d+ · KL")).first
        expect(first).to_be_visible()
        d = re.match(r"z(\d+) ", first.inner_text()).group(1)      # the most active dimension
        slider = first.get_by_role("slider")
        expect(slider).to_have_value(re.compile(r"^-?0(\.0+)?$"))
        slider.focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        expect(slider).to_have_value(re.compile(r"^0\.15"))
        page.wait_for_url(re.compile(rf"[?&]z={d}(%3A|:)0\.15"))

    with step(page, "the link in a new page shows the same position"):
        fresh = page.context.browser.new_page(viewport=VIEWPORT)
        fresh.set_default_timeout(WAIT_MS)
        fresh.goto(page.url)
        again = fresh.locator('[data-testid="stSlider"]').filter(has_text=re.compile(rf"^z{d} ")).get_by_role("slider")
        expect(again).to_have_value(re.compile(r"^0\.15"))

    with step(fresh, "Large type: no button label is cut"):
        fresh.goto(f"{server}/?ckpt=digits/vae-2d&sel=3,9&big_type=true")  # a selection: the Clear button
        expect(fresh.get_by_role("button", name="Clear")).to_be_visible()
        fresh.wait_for_timeout(1500)
        cut = fresh.evaluate("""() => [...document.querySelectorAll('[data-testid="stMain"] button p')]
            .filter(p => p.offsetParent && p.scrollWidth > p.clientWidth + 1).map(p => p.textContent)""")
        assert cut == [], cut
