"""What one full run of each page costs, warm: `python -m explorer.tooling.reruns [--repeats N]`.

Opens the app in Streamlit's AppTest on the shipped checkpoints (the sidebar's defaults), visits
every page once to warm the caches, then reruns each page `repeats` times and reads the app's own
timing lines (explorer/ui/timing.py: the `page.*` span around the whole script). Prints one JSON
object: per page the median wall and CPU milliseconds of a run. `python -m explorer bench --only
reruns` runs this in a fresh process.

AppTest compiles the page scripts again on every run, which the server does once; here they share
one script cache, as in the server. What the server adds per run (sending the messages, the
websocket) is not in these figures.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from explorer.tooling import timing_log
from explorer.tooling.harness import APP
from explorer.ui.navigation import PAGES as APP_PAGES

# every page the app navigates to, by its URL path, in its order: a new page is measured without editing this
FILES = {p.url_path: p.file for p in APP_PAGES}
PAGES = tuple(FILES)


def measure(pages: tuple[str, ...] = PAGES, repeats: int = 5) -> dict[str, dict[str, float]]:
    """{page: {"wall_ms": median, "cpu_ms": median}} of `repeats` warm full runs of each page."""
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import AppTest, app_test, local_script_runner

    from explorer.ui import timing

    shared = ScriptCache()  # each page compiled once, as the server does
    app_test.ScriptCache = local_script_runner.ScriptCache = lambda: shared
    with tempfile.TemporaryDirectory(prefix="explorer-reruns-") as tmp:
        log = Path(tmp) / "timing.jsonl"
        os.environ[timing.LOG_ENV] = str(log)
        at = AppTest.from_file(str(APP), default_timeout=600)
        at.run()
        for page in pages:  # warm: models, maps, figures
            at.switch_page(FILES[page]).run()
        out = {}
        for page in pages:
            at.switch_page(FILES[page]).run()
            if at.exception:
                raise RuntimeError(f"the {page} page failed: {at.exception[0].message}")
            log.unlink(missing_ok=True)
            for _ in range(repeats):
                at.run()
            runs = [r for r in timing_log.read(log) if str(r.get("name", "")).startswith("page.")]
            out[page] = {"wall_ms": round(statistics.median(r["ms"] for r in runs), 1),
                         "cpu_ms": round(statistics.median(r["cpu_ms"] for r in runs), 1)}
        os.environ.pop(timing.LOG_ENV, None)
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m explorer.tooling.reruns`: print the pages' median run times as one JSON line."""
    p = argparse.ArgumentParser(prog="python -m explorer.tooling.reruns", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--pages", default=",".join(PAGES))
    args = p.parse_args(argv)
    pages = tuple(x.strip() for x in args.pages.split(",") if x.strip())
    unknown = [x for x in pages if x not in PAGES]
    if unknown or not 1 <= args.repeats <= 100:
        print(f"error: pages from {', '.join(PAGES)}; --repeats 1..100", file=sys.stderr)
        return 2
    print(json.dumps(measure(pages, args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
