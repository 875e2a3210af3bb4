"""The Map's chart component (explorer/ui/mapchart): its folder holds everything its page loads,
each figure is written once under the hash of its JSON, old figures are pruned while those in
use are kept, and a cache dir that cannot be written still shows the map."""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import plotly
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from explorer.ui import mapchart


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _figure(n: int = 500, seed: int = 0) -> go.Figure:
    xy = np.random.default_rng(seed).normal(size=(n, 2)).astype(np.float32)
    return go.Figure(go.Scattergl(x=xy[:, 0], y=xy[:, 1], customdata=np.arange(n)[:, None], mode="markers"))


def test_the_folder_holds_every_file_its_page_loads(cache):
    import streamlit

    folder = mapchart.folder()
    assert folder.parent == cache / "mapchart"
    page = (folder / "index.html").read_text()
    script = (folder / "map.js").read_text()
    wanted = re.findall(r'(?:src|href)="([\w.\-]+)"', page) + re.findall(r'\.src = url \|\| "([\w.\-]+)"', script)
    assert {"plotly.min.js", "map.js"} <= set(wanted)
    for name in wanted:
        assert (folder / name).stat().st_size > 0, name
    shipped = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert (folder / "plotly.min.js").read_bytes() == shipped.read_bytes()
    # the font: Streamlit's own file, reached from <base>/component/<name>/index.html
    font = re.search(r'url\("\.\./\.\./static/media/([^"]+)"\)', page).group(1)
    assert (Path(streamlit.__file__).parent / "static" / "static" / "media" / font).is_file()
    assert not [p.name for p in folder.iterdir() if ".tmp-" in p.name]  # nothing half-written left


def test_a_figure_is_written_once_under_the_hash_of_its_json(cache):
    folder = mapchart.folder()
    fig = _figure()
    fid = mapchart.figure_id(fig, folder)
    assert json.loads(mapchart.figure_json(fid)) == json.loads(fig.to_json())
    assert mapchart.figure_id(fig, folder) == fid
    assert mapchart.figure_id(_figure(), folder) == fid  # the same figure made again: the same file
    other = mapchart.figure_id(_figure(seed=1), folder)
    assert other != fid
    assert sorted(p.stem for p in (folder / "figures").glob("*.json")) == sorted([fid, other])
    (folder / "figures" / f"{fid}.json").unlink()  # pruned by another replica: written again
    assert mapchart.figure_id(fig, folder) == fid and (folder / "figures" / f"{fid}.json").is_file()


def test_pruning_keeps_the_newest_and_those_in_use(tmp_path):
    now = time.time()
    for n in range(10):
        p = tmp_path / f"f{n}.json"
        p.write_text("{}")
        os.utime(p, (now - 3600 + n, now - 3600 + n))  # written an hour ago, f9 the last
    os.utime(tmp_path / "f0.json", (now, now))          # shown just now
    os.utime(tmp_path / "f1.json", (now - 300, now - 300))  # shown 5 minutes ago
    removed = mapchart.prune(tmp_path, kept=1, keep_s=600)
    assert sorted(removed) == [f"f{n}.json" for n in range(2, 10)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0.json", "f1.json"]
    assert mapchart.prune(tmp_path, kept=1, keep_s=60) == ["f1.json"]


def _script():
    import numpy as np
    import plotly.graph_objects as go

    from explorer.ui import mapchart

    mapchart.show(go.Figure(go.Scattergl(x=np.arange(5.0), y=np.arange(5.0))), "m", 300, 0)


def test_a_cache_dir_that_cannot_be_written_still_shows_the_map(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(blocker / "cache"))
    at = AppTest.from_function(_script).run()
    assert not at.exception
    assert at.get("plotly_chart"), "the map is drawn without the component"
    assert "EXPLORER_CACHE_DIR" in at.warning[0].value and "writable folder" in at.warning[0].value


def test_plotly_js_comes_from_the_apps_static_folder_when_streamlit_serves_it(monkeypatch):
    """That route sends an ETag, so a browser keeps plotly.js between visits of the Map; the
    copy keeps the plotly package's file time (a browser judges freshness by it)."""
    import streamlit as st

    monkeypatch.setattr(mapchart, "_STATIC", {})
    assert st.get_option("server.enableStaticServing")  # .streamlit/config.toml turns it on
    url = mapchart.plotly_url()
    assert url.startswith("../../app/static/plotly-")
    copy = Path(mapchart.__file__).parent.parent.parent / "static" / url.rsplit("/", 1)[1]
    shipped = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert copy.read_bytes() == shipped.read_bytes()
    assert copy.stat().st_mtime == shipped.stat().st_mtime
    monkeypatch.setattr(mapchart, "_STATIC", {})
    st.config.set_option("server.enableStaticServing", False)
    try:
        assert mapchart.plotly_url() == "plotly.min.js"  # the component's own copy
    finally:
        st.config.set_option("server.enableStaticServing", True)
