"""Reading the app's timing log (written by explorer/ui/timing.py when EXPLORER_TIMING_LOG is
set): its lines, and per timed part what it cost the server."""
from __future__ import annotations

import json
import statistics
from pathlib import Path


def read(path: Path | str) -> list[dict]:
    """The lines of a timing log ([] when there is none); a torn or foreign line is skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def server_times(lines: list[dict]) -> dict[str, dict]:
    """Per timed part (a page's full run, a fragment's rerun): how many, median and p95 wall time
    in ms, median CPU time of the thread and CPU seconds in all (what each part cost the server
    during the load, apart from waiting for the others)."""
    by: dict[str, list[tuple[float, float]]] = {}
    for r in lines:
        by.setdefault(str(r.get("name")), []).append((float(r.get("ms", 0.0)), float(r.get("cpu_ms", 0.0))))
    out = {}
    for name, pairs in sorted(by.items()):
        ms = sorted(p[0] for p in pairs)
        cpu = [p[1] for p in pairs]
        out[name] = {"n": len(ms), "median_ms": round(statistics.median(ms), 1),
                     "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1),
                     "median_cpu_ms": round(statistics.median(cpu), 1), "cpu_s": round(sum(cpu) / 1000, 1)}
    return out
