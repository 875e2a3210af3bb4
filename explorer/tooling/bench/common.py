"""What every bench group shares: its settings, the report it adds to, the checkpoint and dataset
it measures, and the environment of the servers it starts."""
from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from typing import Any

from explorer.tooling.harness import REPO, chromium_path, repo_env

DATASET = "fashion-mnist"
VAE_CHECKPOINT = REPO / "checkpoints" / DATASET / "vae-16d"
APP = REPO / "explorer" / "app.py"
BASELINES = REPO / "explorer" / "tooling" / "baselines"
BASELINE_POINTS = 10_000
TEST_POINTS = 10_000  # the Fashion-MNIST test set: the map is drawn when all its points are
LOAD_USERS = 20
SERVE_SESSIONS = 60  # a class (issue 16)


@dataclass
class Settings:
    """How the groups run: runs per figure, small settings, the browser, the load test's size."""

    repeats: int = 3
    quick: bool = False
    chromium: str = field(default_factory=lambda: str(chromium_path()))
    users: int = LOAD_USERS
    serve_sessions: int = SERVE_SESSIONS


@dataclass
class Report:
    """What the groups found: figures (compared with their targets), details, and for each figure
    that could not be measured, why."""

    figures: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def alternating(names, r: int) -> list:
    """`names` in order on even repeats and reversed on odd ones, so that drift in the machine's
    load hits every contender alike."""
    names = list(names)
    return names if r % 2 == 0 else names[::-1]


def median(xs: list[float]) -> float:
    """The median as a float."""
    return float(statistics.median(xs))


def load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages ([] where unknown)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A bench server's environment: the shipped checkpoints, as a user gets them (no extra or
    test roots), and the baseline page's size."""
    env = repo_env({"EXPLORER_BASELINE_POINTS": str(BASELINE_POINTS)})
    for k in ("EXPLORER_CHECKPOINTS", "EXPLORER_CHECKPOINTS_ONLY"):
        env.pop(k, None)
    env.update(extra or {})
    return env

