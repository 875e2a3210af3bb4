"""Fault injection: every page, with a model and data that fail at each step, shows a clear
message in the page (never a traceback), keeps its sidebar, and the next page opened works.

The faults are injected where the real parts are (the loaded model's encode/decode, the classifier's
forward, the test-set loader, the array cache, the projection, the checkpoint loader) with the errors nothing
listed: RuntimeError, ValueError, MemoryError, OSError, RecursionError, and the project's own
errors. The app's guard (ui/widgets.guarded, wording in ui/faults.py) turns the project's own
errors into `error: <message>` and any other into "Something went wrong in <page>: ...".
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import streamlit as st
import torch

from explorer.checkpoints import CARD_FILE, CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE, CheckpointError
from explorer.core import arraycache
from explorer.core.errors import error_line
from explorer.maps import projection
from explorer.models.classifier import Classifier
from explorer.models.vae import VAE
from explorer.ui import faults
from explorer.ui.cache import models as cached_models
from explorer.ui.navigation import DEFAULT, PAGES
from helpers import open_app, texts

INJECTED = "injected fault"


class Fault:
    """A callable that replaces a real one and raises `error` (counting its calls)."""

    def __init__(self, error: BaseException):
        self.error, self.calls = error, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        raise self.error


# site name: (error raised there, [(object, attribute), ...] it replaces)
SITES = {
    "encode": (RuntimeError(f"{INJECTED}: encode"), [(VAE, "encode")]),
    "decode": (MemoryError(f"{INJECTED}: decode"), [(VAE, "decode")]),
    "classifier": (RuntimeError(f"{INJECTED}: classifier\nsecond line of detail"), [(Classifier, "forward")]),
    "array cache": (ValueError(f"{INJECTED}: array cache"), [(arraycache, "arrays")]),
    "test-set loader": (OSError(f"{INJECTED}: test set"), [(cached_models, "load_dataset")]),
    "projection": (RecursionError(f"{INJECTED}: projection"), [(projection, "project"), (projection, "load_cached")]),
    "checkpoint loader": (CheckpointError(f"{INJECTED}: weights unreadable"), [(cached_models, "load_checkpoint")]),
}


@pytest.fixture
def fresh_caches():
    """In-process caches emptied before and after, so the faulty parts are really called (and
    nothing they returned outlives the test)."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def expected_message(error: BaseException) -> str:
    """The project's own errors keep their message (the guard's `error: ...`, or a page's own
    wording around it); any other is named with its type."""
    return str(error) if faults.is_person_facing(error) else f"{type(error).__name__}: {INJECTED}"


def walk_every_page(at, fault: Fault) -> list[str]:
    """Open every page with the fault in place; returns the pages whose run reached the fault.
    Each must show the message, keep the sidebar and raise nothing."""
    reached = []
    for spec in PAGES:
        before = fault.calls
        at.switch_page(spec.file).run()
        assert not at.exception, f"{spec.title}: {at.exception}"
        assert sidebar_drawn(at), f"{spec.title}: no sidebar"
        if fault.calls > before:
            reached.append(spec.title)
            errors = [e.value for e in at.error]
            assert any(expected_message(fault.error) in e for e in errors), f"{spec.title}: {errors}"
            assert all("Traceback" not in e and "second line" not in e for e in errors), errors
    return reached


@pytest.mark.parametrize("site", list(SITES))
def test_every_page_survives_a_fault_at_each_step(site, app_env, fresh_caches, monkeypatch):
    error, targets = SITES[site]
    fault = Fault(error)
    for owner, attr in targets:
        monkeypatch.setattr(owner, attr, fault)
    at = open_app(method=None)
    reached = walk_every_page(at, fault)
    assert reached, f"no page reached the {site} fault: the test injects nothing"
    monkeypatch.undo()  # the part works again: the next page opened works
    at.switch_page(DEFAULT.file).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "of 360 test images" in texts(at)


def test_non_finite_outputs_never_end_in_a_traceback(app_env, fresh_caches, monkeypatch):
    """A decoder that returns NaN: every page still draws (a message where the NaN is caught),
    and nothing NaN outlives the fault."""
    def nan_decode(self, z, y=None):
        return torch.full((z.shape[0], 1, 8, 8), float("nan"))
    at = open_app(method=None)
    monkeypatch.setattr(VAE, "decode", nan_decode)
    walk_every_page(at, Fault(RuntimeError("unused")))
    at.switch_page("ui/pages/generate.py").run()  # decodes samples: the NaN is caught and named
    assert not at.exception
    assert any("finite" in e.value for e in at.error), [e.value for e in at.error]
    monkeypatch.undo()
    st.cache_data.clear()
    at.switch_page("ui/pages/generate.py").run()
    assert not at.exception and not at.error


def test_the_message_names_the_page_and_step_and_keeps_the_cli_wording():
    assert faults.where("explorer.ui.pages.generate", "make_one") == "Generate (make one)"
    assert faults.where("explorer.ui.pages.map", "render") == "Map"
    e = CheckpointError("weights.safetensors is truncated: re-save the checkpoint")
    assert faults.page_message(e, "Map") == error_line(e) == \
        "error: weights.safetensors is truncated: re-save the checkpoint"
    msg = faults.page_message(MemoryError(), "Traverse")
    assert msg.startswith("Something went wrong in Traverse: MemoryError. ")
    assert "the rest of the app still works" in msg.lower()
    assert len(faults.page_message(ValueError("x" * 10_000), "Map")) < 500


# ---------------------------------------------------------------- broken files, as they arrive

def deep_json(depth: int = 200_000) -> str:
    """A JSON array nested past any parser's recursion limit (issue 17: a RecursionError)."""
    return "[" * depth + "]" * depth


def huge_declared_shape(weights: Path) -> None:
    """Rewrite a safetensors file so its first tensor claims 2**40 rows the file does not hold."""
    raw = weights.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"] = [2**40, *header[name]["shape"][1:]]
    text = json.dumps(header).encode()
    weights.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])


@pytest.mark.parametrize("fault", ["deep metrics.json", "deep model card", "deep config.json", "declared size",
                                   "model card is a named pipe"])
def test_every_page_survives_a_broken_checkpoint_file(fault, tiny_checkpoints, app_env, fresh_caches, tmp_path,
                                                       monkeypatch):
    root = tmp_path / "root"
    shutil.copytree(tiny_checkpoints, root)
    monkeypatch.setenv("EXPLORER_CHECKPOINTS", str(root))
    vae = root / "digits" / "vae-2d"
    if fault == "declared size":
        huge_declared_shape(vae / WEIGHTS_FILE)
    elif fault == "model card is a named pipe":  # reading it would block the page forever
        (vae / CARD_FILE).unlink()
        os.mkfifo(vae / CARD_FILE)
    else:
        name = {"deep metrics.json": METRICS_FILE, "deep model card": CARD_FILE, "deep config.json": CONFIG_FILE}
        (vae / name[fault]).write_text(deep_json())
    at = open_app(method=None)
    for spec in PAGES:
        at.switch_page(spec.file).run()
        assert not at.exception, f"{spec.title}: {at.exception}"
        errors = [e.value for e in at.error]
        assert all("Traceback" not in e for e in errors), errors
        assert sidebar_drawn(at), f"{spec.title}: {errors}"  # a config it cannot read is listed as unreadable
    at.sidebar.selectbox(key="sb_vae").set_value(root / "digits" / "cvae-4d").run()  # the next checkpoint works
    at.switch_page(DEFAULT.file).run()
    assert not at.exception and not at.error, [e.value for e in at.error]


def sidebar_drawn(at) -> bool:
    return any(s.key == "sb_vae" for s in at.sidebar.selectbox)
