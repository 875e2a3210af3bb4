"""App tests for the teaching pages (Learn, Anomalies, Model card, Tour), the help expanders,
the download buttons and the view kept in the URL. Tiny checkpoints from ui_fixtures."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from ui_fixtures import app_env, tiny_checkpoints  # noqa: F401  (fixtures)

APP = Path(__file__).resolve().parents[1] / "explorer" / "app.py"
TIMEOUT = 60


def run_app(page: str | None = None, query: dict | None = None, method: str | None = "pca") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    if method:
        at.session_state["map_method"] = method
    if query:
        at.query_params.update(query)
    at.run()
    if page:
        at.switch_page(f"ui/pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [cap for img in at.image for cap in img.captions]
    parts += [e.value for e in at.error] + [w.value for w in at.warning] + [i.value for i in at.info]
    parts += [str(m.label) + " " + str(m.value) for m in at.metric]
    return "\n".join(parts)


def downloads(at: AppTest) -> dict:
    return {b.proto.id.split("-")[-1] if False else b.key: b for b in at.get("download_button")}
