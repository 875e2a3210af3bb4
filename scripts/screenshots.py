"""Screenshots of every page at 1280x800 in headless Chromium: python scripts/screenshots.py OUT_DIR [VAE_NAME]."""
import os, socket, subprocess, sys, time, urllib.request
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
from playwright.sync_api import sync_playwright
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
vae = sys.argv[2] if len(sys.argv) > 2 else None
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
srv = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "explorer/app.py", "--server.port", str(port),
                        "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none"],
                       cwd=str(ROOT), env=dict(os.environ), stdout=open(f"{out}/server.log", "w"), stderr=subprocess.STDOUT)
POINT_JS = open(ROOT / "tests" / "test_e2e.py").read().split('POINT_JS = """')[1].split('"""')[0]
def settle(pg):
    time.sleep(1.5)
    for _ in range(600):
        if pg.locator('[data-testid="stStatusWidget"]').count() == 0: break
        time.sleep(0.5)
    time.sleep(1.5)
def shot(pg, name, tall=True):
    pg.screenshot(path=f"{out}/{name}.png")
    if tall:
        pg.set_viewport_size({"width": 1280, "height": 2000}); time.sleep(1.5)
        pg.screenshot(path=f"{out}/{name}-tall.png")
        pg.set_viewport_size({"width": 1280, "height": 800}); time.sleep(0.5)
try:
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1); break
        except Exception: time.sleep(0.5)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=os.environ.get("EXPLORER_CHROMIUM", "/usr/bin/chromium"), headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"])
        pg = b.new_page(viewport={"width": 1280, "height": 800})
        pg.goto(f"http://127.0.0.1:{port}/"); settle(pg)
        if vae:
            pg.get_by_role("combobox", name="VAE checkpoint").click(); time.sleep(0.5)
            pg.get_by_role("option", name=vae).first.click(); settle(pg)
        pg.wait_for_function("() => { const gd = document.querySelector('.js-plotly-plot'); return gd && gd._fullData && gd._fullData.length > 0; }", timeout=300000)
        shot(pg, "map0", tall=False)
        pt = pg.evaluate(POINT_JS); pg.mouse.move(pt["x"], pt["y"]); time.sleep(0.3); pg.mouse.click(pt["x"], pt["y"]); settle(pg)
        shot(pg, "map1", tall=False)
        for name in ["Traverse", "Interpolate", "Generate"]:
            pg.get_by_role("link", name=name).click(); settle(pg)
            shot(pg, name.lower())
        b.close()
finally:
    srv.terminate(); srv.wait(10)
