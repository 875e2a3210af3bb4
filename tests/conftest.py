"""Every shared fixture (pytest finds them here; no test module imports this file), and the rule
that only tests marked `slow` or `e2e` start a process.

Plain helpers (the tiny model, synthetic data, reading an AppTest page) are in tests/helpers.py.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

from explorer.data import ImageDataset
from explorer.tooling.harness import chromium as launch_chromium
from helpers import (COLOUR_NAME, VIEWPORT, WAIT_MS, build_colour_checkpoints, build_tiny_checkpoints, chromium_path,
                     colour_dataset_registered, synthetic_dataset)
from server_process import app_server

# Tiny tensors run fastest on one thread, and the machine may be busy training.
torch.set_num_threads(1)

# Property-based fuzzing (tests/test_fuzz_*.py): "ci" is the short, repeatable run of `make test`;
# "long" explores new inputs for minutes (`make fuzz`). Pick one with HYPOTHESIS_PROFILE.
settings.register_profile("ci", max_examples=50, derandomize=True, database=None, deadline=20_000,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=300, derandomize=False, database=None, deadline=60_000,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# ---------------------------------------------------------------- no process without a mark

PROCESS_MARKS = ("slow", "e2e")
# Hardware probes libraries run on their own, once per process: joblib's loky counts physical
# cores with `lscpu` the first time scikit-learn asks (joblib/externals/loky/backend/context.py).
LIBRARY_PROBES = {"lscpu"}


def _program(args) -> str:
    first = args.split()[0] if isinstance(args, str) else list(args)[0]
    return Path(str(first)).name


def _refuse_processes(item: pytest.Item) -> Callable[[], None]:
    """Make starting a process fail `item` with a message; returns the undo.

    `make test-fast` (-m "not slow and not e2e") must start no process: a fresh interpreter,
    a server or a child training run costs seconds and leaves the fast suite's promise broken."""
    real_init, real_system = subprocess.Popen.__init__, os.system

    def refuse(self, args, *rest, **kwargs):
        if _program(args) in LIBRARY_PROBES:
            return real_init(self, args, *rest, **kwargs)
        pytest.fail(f"{item.nodeid} starts a process but is not marked slow or e2e: mark it "
                    "@pytest.mark.slow (or e2e if it drives Chromium), so that `make test-fast` starts none.",
                    pytrace=False)

    def refuse_system(command):
        refuse(None, command)

    subprocess.Popen.__init__, os.system = refuse, refuse_system

    def undo() -> None:
        subprocess.Popen.__init__, os.system = real_init, real_system
    return undo


def _guarded(item: pytest.Item) -> Iterator[None]:
    if any(item.get_closest_marker(mark) for mark in PROCESS_MARKS):
        yield
        return
    undo = _refuse_processes(item)
    try:
        yield
    finally:
        undo()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Fixtures set up for an unmarked test start no process either."""
    yield from _guarded(item)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield from _guarded(item)


# ---------------------------------------------------------------- data and an isolated environment

@pytest.fixture
def tiny_data() -> ImageDataset:
    """64 training images, uint8 (64, 1, 8, 8) pixels, int64 labels, the digits spec."""
    return synthetic_dataset(64, seed=0, split="train")


@pytest.fixture
def tiny_test_data() -> ImageDataset:
    """32 held-out images drawn like `tiny_data`."""
    return synthetic_dataset(32, seed=1, split="test")


@pytest.fixture
def explorer_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Path]:
    """Point the cache and checkpoint roots into tmp_path, away from the user's files."""
    paths = {"cache": tmp_path / "cache", "checkpoints": tmp_path / "checkpoints"}
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(paths["cache"]))
    monkeypatch.setenv("EXPLORER_CHECKPOINTS", str(paths["checkpoints"]))
    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    return paths


# ---------------------------------------------------------------- the app tests' checkpoints

@pytest.fixture(scope="session")
def tiny_checkpoints_built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny checkpoints of helpers.build_tiny_checkpoints, trained once per test session.
    Never handed to the app: `tiny_checkpoints` copies it."""
    return build_tiny_checkpoints(tmp_path_factory.mktemp("ui-checkpoints-built"))


@pytest.fixture(scope="module")
def tiny_checkpoints(tiny_checkpoints_built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint root holding a copy of the session's tiny checkpoints, one per test module:
    the app writes into it (maps into a checkpoint's projections/, runs into the first root), so
    one module's pages never see another module's maps or runs."""
    root = tmp_path_factory.mktemp("ui-checkpoints")
    shutil.copytree(tiny_checkpoints_built, root, dirs_exist_ok=True)
    return root


@pytest.fixture
def app_env(tiny_checkpoints: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment that shows the app only the tiny checkpoints and no cached MNIST files."""
    env = {
        "EXPLORER_CHECKPOINTS": str(tiny_checkpoints),
        "EXPLORER_CHECKPOINTS_ONLY": "1",
        "EXPLORER_CACHE_DIR": str(tmp_path / "cache"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    return env


# ---------------------------------------------------------------- a colour dataset, its checkpoints and app

@pytest.fixture
def colour_dataset():
    """The 32x32 RGB test dataset `colour-test` registered for one test, removed after."""
    with colour_dataset_registered() as spec:
        yield spec


@pytest.fixture(scope="session")
def colour_checkpoints_built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny colour checkpoints (helpers.build_colour_checkpoints), trained once per session."""
    with colour_dataset_registered():
        return build_colour_checkpoints(tmp_path_factory.mktemp("colour-checkpoints-built"))


@pytest.fixture
def colour_app_env(colour_dataset, colour_checkpoints_built: Path, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app shown only a copy of the colour checkpoints; returns their root."""
    root = tmp_path / "colour-root"
    shutil.copytree(colour_checkpoints_built, root)
    monkeypatch.setenv("EXPLORER_CHECKPOINTS", str(root))
    monkeypatch.setenv("EXPLORER_CHECKPOINTS_ONLY", "1")
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    assert (root / COLOUR_NAME / "vae-2d").is_dir()
    return root


# ---------------------------------------------------------------- the real server in Chromium (e2e)

@pytest.fixture
def chromium() -> Path:
    """The Chromium binary the e2e tests drive; fails with how to get one when it is missing."""
    path = chromium_path()
    if not path.is_file():
        pytest.fail(f"Chromium not found at {path}. Run `make chromium` (make test installs it), "
                    "or set EXPLORER_CHROMIUM to a Chromium or Chrome binary.")
    return path


@pytest.fixture
def server(chromium: Path, tiny_checkpoints: Path, tmp_path: Path) -> Iterator[str]:
    """The app on a free port of 127.0.0.1, showing only the tiny checkpoints; always stopped."""
    with app_server(tiny_checkpoints, tmp_path) as (url, _):
        yield url


@pytest.fixture
def page(server: str, chromium: Path):
    """A headless Chromium page opened on `server`."""
    with launch_chromium(chromium) as browser:
        pg = browser.new_page(viewport=VIEWPORT)
        pg.set_default_timeout(WAIT_MS)
        pg.goto(server)
        yield pg
