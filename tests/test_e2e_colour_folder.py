"""End to end, in colour: a folder of coloured PNGs made here, a tiny model trained on it from the
Train page (a real child process), then opened in Map and Traverse, whose pictures must be in
colour (some pixel with R != G != B in the browser's own screenshot of the picture).

Needs the folder loader (explorer.data.folder_dataset_id, issue 14 'folders'); skipped without it."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

import explorer.data
from explorer.tooling.harness import MAP_FRAME, chromium as launch_chromium
from helpers import ARTIFACTS, channels_differ, write_colour_folder
from server_process import app_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow,
              pytest.mark.skipif(not hasattr(explorer.data, "folder_dataset_id"),
                                 reason="needs the folder loader (explorer.data.folder_dataset_id): issue 14, 'folders'")]
SCREEN = {"width": 1280, "height": 720}


def _picture(locator) -> Image.Image:
    return Image.open(io.BytesIO(locator.screenshot())).convert("RGB")


def _train_on_folder(pg, url: str, folder: Path) -> None:
    from playwright.sync_api import expect

    pg.goto(f"{url}/train")
    main = pg.get_by_test_id("stMain")
    main.get_by_role("combobox", name="Dataset").click()
    pg.get_by_role("option", name="A folder of your own images...").click()
    path = main.get_by_label("Folder", exact=True).and_(pg.locator("input"))
    path.fill(str(folder))
    path.press("Enter")
    main.get_by_role("button", name="Read the folder").click()
    expect(main.get_by_text("oranges, reds, yellows", exact=False)).to_be_visible(timeout=60_000)
    epochs = main.get_by_label("Epochs", exact=True).and_(pg.locator("input"))
    epochs.fill("15")
    epochs.press("Enter")
    lr = main.get_by_test_id("stSlider").filter(has_text="Learning rate").get_by_role("slider")
    lr.focus()
    for _ in range(3):  # 1e-3 -> 1e-2: a few dozen steps then move the decoder well away from grey
        lr.press("ArrowRight")
    name = main.get_by_label("Checkpoint name", exact=True).and_(pg.locator("input"))
    name.fill("e2e-colour")
    name.press("Enter")
    main.get_by_role("button", name="Start training").click()
    expect(pg.get_by_text("Finished", exact=False).first).to_be_visible(timeout=300_000)
    strip = main.get_by_test_id("stImage").filter(has_text="each row over its reconstructions")
    expect(strip).to_be_visible()
    assert channels_differ(_picture(strip.get_by_role("img")), at_least=20), "the live reconstructions are not in colour"


def test_train_on_a_colour_folder_then_map_and_traverse_show_colour(chromium, tmp_path):
    from playwright.sync_api import expect

    folder = write_colour_folder(tmp_path / "warm colours", per_class=12)
    root = tmp_path / "checkpoints"
    root.mkdir()
    ARTIFACTS.mkdir(exist_ok=True)
    with app_server(root, tmp_path, extra_env={"EXPLORER_RUNS_DIR": str(tmp_path / "runs")}) as (url, _), \
            launch_chromium(chromium) as browser:
        pg = browser.new_page(viewport=SCREEN)
        pg.set_default_timeout(60_000)
        try:
            _train_on_folder(pg, url, folder)
            pg.get_by_role("button", name="Open in Map").click()
            pg.wait_for_url(re.compile(r"^[^?]*/(\?.*)?$"))  # the Map page is the default page, at /
            expect(pg.frame_locator(MAP_FRAME).locator(".js-plotly-plot").first).to_be_visible()
            pg.goto(pg.url + ("&" if "?" in pg.url else "?") + "sel=0,1,2")
            expect(pg.get_by_text("3 selected")).to_be_visible()
            pair = pg.get_by_test_id("stMain").get_by_test_id("stImage").first
            expect(pair).to_be_visible()
            pg.screenshot(path=str(ARTIFACTS / "e2e-colour-map.png"))
            assert channels_differ(_picture(pair), at_least=20), "the Map's selected image is not in colour"
            pg.get_by_test_id("stSidebarNav").get_by_role("link", name="Traverse").click()
            decoded = pg.get_by_test_id("stMain").get_by_test_id("stImage").first
            expect(decoded).to_be_visible()
            pg.screenshot(path=str(ARTIFACTS / "e2e-colour-traverse.png"))
            assert channels_differ(_picture(decoded), at_least=20), "Traverse's decoded image is not in colour"
            expect(pg.get_by_text("Something went wrong")).to_have_count(0)
        except Exception:
            pg.screenshot(path=str(ARTIFACTS / "e2e-colour-failure.png"), full_page=True)
            raise
