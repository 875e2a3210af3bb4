"""End to end: train a small model on digits for one epoch in the browser, then explore it.

The real server and headless Chromium, as in test_e2e.py; the run trains in a real child
process and its checkpoint lands in a copy of the tiny checkpoint root."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from explorer.tooling.harness import MAP_FRAME, chromium as launch_chromium
from helpers import ARTIFACTS, VIEWPORT
from server_process import app_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def train_server(chromium, tiny_checkpoints: Path, tmp_path: Path):
    root = tmp_path / "checkpoints"
    shutil.copytree(tiny_checkpoints, root)
    try:
        with app_server(root, tmp_path, extra_env={"EXPLORER_RUNS_DIR": str(tmp_path / "runs")}) as (url, _):
            yield url, root
    finally:
        subprocess.run(["pkill", "-f", str(tmp_path / "runs")], check=False)  # no run outlives the test


def test_train_one_epoch_in_the_browser_and_open_it_on_the_map(train_server, chromium):
    from playwright.sync_api import expect

    url, root = train_server
    with launch_chromium(chromium) as browser:
        pg = browser.new_page(viewport=VIEWPORT)
        pg.set_default_timeout(60_000)
        try:
            pg.goto(f"{url}/train")
            epochs = pg.get_by_label("Epochs", exact=True).and_(pg.locator("input"))
            epochs.fill("1")
            epochs.press("Enter")
            name = pg.get_by_label("Checkpoint name", exact=True).and_(pg.locator("input"))
            name.fill("e2e-run")
            name.press("Enter")
            pg.get_by_role("button", name="Start training").click()
            expect(pg.get_by_text("e2e-run · vae on scikit-learn digits (8x8)")).to_be_visible()  # the live panel of this run
            expect(pg.get_by_text("Finished", exact=False).first).to_be_visible(timeout=300_000)
            expect(pg.get_by_text("Test codes, epoch 1").first).to_be_visible()
            assert (root / "digits" / "e2e-run" / "metrics.json").is_file()
            pg.get_by_role("button", name="Open in Map").click()
            pg.wait_for_url(f"{url}/")                                   # the Map page is the default page
            sidebar = pg.get_by_test_id("stSidebar")
            expect(sidebar.get_by_role("combobox", name="VAE checkpoint")).to_have_value("e2e-run (vae, 2-D)")
            expect(pg.frame_locator(MAP_FRAME).locator(".js-plotly-plot").first).to_be_visible()
            expect(pg.get_by_text("Something went wrong")).to_have_count(0)
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            pg.screenshot(path=str(ARTIFACTS / "e2e-train-failure.png"), full_page=True)
            raise
