"""End to end, in headless Chromium against the real server: a link with state reopens that
view, a slider move goes into the URL, and the interpolation downloads as an animated GIF with
one frame per step. Reuses the server and browser fixtures of test_e2e.py."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from helpers import VIEWPORT, WAIT_MS, step

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def download_gif(page, tmp_path: Path, name: str) -> Image.Image:
    with page.expect_download() as info:
        page.get_by_role("button", name=re.compile("Animated GIF")).click()
    target = tmp_path / name
    info.value.save_as(target)
    return Image.open(target)


def test_a_link_reopens_an_interpolation_and_its_gif_downloads(page, server, tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)

    with step(page, "open a link with state"):
        page.goto(f"{server}/interpolate?ckpt=digits/vae-2d&a=11&b=42&interp_steps=7")
        expect(page.get_by_text(re.compile(r"^A: test image #11 \("))).to_be_visible()
        expect(page.get_by_text(re.compile(r"^B: test image #42 \("))).to_be_visible()
        frames = page.locator('[data-testid="stSlider"]').filter(has_text="Frames")
        expect(frames.get_by_role("slider")).to_have_value("7")

    with step(page, "download the GIF"):
        gif = download_gif(page, tmp_path, "seven.gif")
        assert gif.format == "GIF" and gif.is_animated
        assert gif.n_frames == 7

    with step(page, "a slider move goes into the URL"):
        frames.get_by_role("slider").focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        expect(frames.get_by_role("slider")).to_have_value("9")
        page.wait_for_url(re.compile(r"interp_steps=9"))
        assert re.search(r"[?&]a=11(&|$)", page.url) and re.search(r"[?&]b=42(&|$)", page.url)
        assert "ckpt=digits%2Fvae-2d" in page.url or "ckpt=digits/vae-2d" in page.url

    with step(page, "the bookmarked URL reopens the same view"):
        url = page.url
        fresh = page.context.browser.new_page(viewport=VIEWPORT)   # a new session, as from a bookmark
        fresh.set_default_timeout(WAIT_MS)
        fresh.goto(url)
        expect(fresh.get_by_text(re.compile(r"^A: test image #11 \("))).to_be_visible()
        slider = fresh.locator('[data-testid="stSlider"]').filter(has_text="Frames").get_by_role("slider")
        expect(slider).to_have_value("9")
        gif = download_gif(fresh, tmp_path, "nine.gif")
        assert gif.n_frames == 9


def test_the_map_downloads_as_png_html_and_csv(page, tmp_path):
    """The map's files come from the real server: a PNG drawn by kaleido with the local
    Chromium, an HTML page that carries plotly.js, and a CSV with one row per test image."""
    import csv

    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    files = {}
    with step(page, "download the map"):
        expect(page.get_by_text("Latent plane of 360 test images")).to_be_visible()
        for label in ("PNG", "HTML", "CSV"):
            with page.expect_download(timeout=WAIT_MS) as info:
                page.get_by_role("button", name=re.compile(f"^\\S*\\s*{label}$")).click()
            files[label] = tmp_path / info.value.suggested_filename
            info.value.save_as(files[label])
    png = Image.open(files["PNG"])
    assert png.format == "PNG" and png.width >= 600
    html = files["HTML"].read_text(encoding="utf-8")
    assert "<html" in html and 'src="http' not in html and "plotly" in html.lower()
    rows = list(csv.DictReader(files["CSV"].open(encoding="utf-8")))
    assert len(rows) == 360 and {"index", "x", "y", "true_label", "predicted_label"} <= set(rows[0])
    assert files["CSV"].name.startswith("vae-2d_identity")
