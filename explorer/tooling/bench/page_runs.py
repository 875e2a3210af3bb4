"""The reruns group: rerun_<page>_ms, one warm full run of each page, the app's own time (median),
measured in a fresh process with Streamlit's AppTest (explorer/tooling/reruns.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from explorer.tooling.bench.common import REPO, Report, Settings, bench_env


def bench_reruns(s: Settings, rep: Report, work: Path) -> None:
    """Each page's warm full run, in a fresh process on the shipped checkpoints (AppTest)."""
    repeats = 3 if s.quick else max(5, s.repeats)
    done = subprocess.run([sys.executable, "-m", "explorer.tooling.reruns", "--repeats", str(repeats)], cwd=REPO,
                          env=bench_env({"EXPLORER_CACHE_DIR": str(work / "cache")}), capture_output=True,
                          text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "reruns failed")
    pages = json.loads(done.stdout.strip().splitlines()[-1])
    for page, t in pages.items():
        rep.figures[f"rerun_{page}_ms"] = t["wall_ms"]
    rep.details["reruns"] = {"repeats": repeats, "pages": pages,
                             "what": "median wall and CPU ms of the app's whole script per warm full run"}
