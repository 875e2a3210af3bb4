"""Screenshots of the map and a few pages at 1280x800 in headless Chromium (and a tall 1280x2000
view of each page): python scripts/screenshots.py OUT_DIR [VAE_NAME].

The app runs on the shipped checkpoints; VAE_NAME picks one in the sidebar first."""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, to import explorer from

from explorer.tooling.harness import PLOT_SHOWN_JS, POINT_JS, VIEWPORT, chromium, streamlit_server  # noqa: E402

PAGES = ("Traverse", "Interpolate", "Generate")
TALL = {"width": 1280, "height": 2000}


def settle(page) -> None:
    """Wait until the page's run is over: Streamlit's running indicator gone, then a moment more."""
    time.sleep(1.5)
    for _ in range(600):
        if page.locator('[data-testid="stStatusWidget"]').count() == 0:
            break
        time.sleep(0.5)
    time.sleep(1.5)


def shot(page, out: Path, name: str, tall: bool = True) -> None:
    """`name`.png at the viewport's size and, with `tall`, `name`-tall.png at 1280x2000."""
    page.screenshot(path=str(out / f"{name}.png"))
    if tall:
        page.set_viewport_size(TALL)
        time.sleep(1.5)
        page.screenshot(path=str(out / f"{name}-tall.png"))
        page.set_viewport_size(VIEWPORT)
        time.sleep(0.5)


def take(url: str, out: Path, vae: str | None) -> None:
    """The map, the map with a point clicked, then each of PAGES."""
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{url}/")
        settle(page)
        if vae:
            page.get_by_role("combobox", name="VAE checkpoint").click()
            time.sleep(0.5)
            page.get_by_role("option", name=vae).first.click()
            settle(page)
        page.wait_for_function(PLOT_SHOWN_JS, timeout=300_000)
        shot(page, out, "map0", tall=False)
        point = page.evaluate(POINT_JS)
        page.mouse.move(point["x"], point["y"])
        time.sleep(0.3)
        page.mouse.click(point["x"], point["y"])
        settle(page)
        shot(page, out, "map1", tall=False)
        for name in PAGES:
            page.get_by_role("link", name=name).click()
            settle(page)
            shot(page, out, name.lower())


def main(argv: list[str]) -> int:
    """Start the app, take the screenshots into OUT_DIR, stop the app."""
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    with streamlit_server(log=out / "server.log", wait_s=60) as server:
        take(server.url, out, argv[1] if len(argv) > 1 else None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
