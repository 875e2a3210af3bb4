"""The Map page's chart: a plotly figure drawn by our own component, where a click marks its
point without plotly.js drawing every point again (map.js says why st.plotly_chart cannot).

The component's folder lives in the cache dir, one per version of its files: index.html and
map.js from here and plotly.min.js from the plotly package (the same plotly.js that plotly.py's
own HTML export uses); the page takes Streamlit's Source Sans from Streamlit's own files, so the
map's text matches the app's.
Streamlit serves the folder at /component/explorer.ui.mapchart.map/. Each figure is written
there once as figures/<id>.json (a hash of its JSON, written atomically, so every replica of a
served class may write and read the same folder), and the component's arguments only name it:
a pick's rerun sends a few bytes, not the 70,000 points again.

The value is the last event: {"event": token, "selection": {"points": [{"customdata",
"legendgroup", "x", "y"}, ...]}}; a new token for each click, box, lasso or double-click.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any

import streamlit as st

from explorer.core import atomic
from explorer.core.paths import cache_dir

_LOG = logging.getLogger(__name__)
SOURCES = ("index.html", "map.js")
FIGURES_KEPT = 64       # figure files kept in a folder beyond those written in the last KEEP_S
KEEP_S = 600.0          # a figure written or shown this recently is never pruned
_LOCK = threading.Lock()
_FOLDERS: dict[Path, tuple[Path, Any]] = {}               # cache dir -> (component folder, component)
_WRITTEN: OrderedDict[int, tuple[weakref.ref, str]] = OrderedDict()  # id(figure) -> (a weak ref to it, its id)
_WRITTEN_MAX = 64
_STATIC: dict[str, str] = {}  # "plotly": where the chart's page loads plotly.js from


def _parts() -> dict[str, Path]:
    """What the component's folder holds, by name, and where each comes from."""
    import plotly

    here = Path(__file__).parent
    parts = {name: here / name for name in SOURCES}
    parts["plotly.min.js"] = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return parts


def _font_url() -> str:
    """Streamlit's Source Sans as the component's page reaches it: the browser has it already
    (Streamlit's own page preloads it), so the map's text is in the app's typeface at once.
    Without it the map's text falls back to the browser's sans-serif."""
    media = Path(st.__file__).parent / "static" / "static" / "media"
    font = sorted(media.glob("SourceSansVF-Upright*.woff2"))
    # the page is at <base>/component/<name>/index.html, Streamlit's files at <base>/static/
    return f"../../static/media/{font[0].name}" if font else "none"


def _make_folder(cache: Path) -> Path:
    """The component's folder for these files in `cache`, filled once (each file atomically)."""
    parts = _parts()
    page = (parts.pop("index.html")).read_text(encoding="utf-8").replace("STREAMLIT_FONT", _font_url())
    version = hashlib.sha1(page.encode())
    for name, source in sorted(parts.items()):
        version.update(name.encode() + source.read_bytes() if name in SOURCES else f"{name}{source.stat().st_size}".encode())
    folder = cache / "mapchart" / version.hexdigest()[:12]
    if not (folder / "index.html").is_file():
        atomic.write_text(folder / "index.html", page, fsync=False)
    for name, source in parts.items():
        if not (folder / name).is_file():
            atomic.write_bytes(folder / name, source.read_bytes(), fsync=False)
    (folder / "figures").mkdir(exist_ok=True)
    return folder


STATIC_ROUTE = "../../app/static"  # the app's static folder, as the component's page reaches it


def _static_plotly() -> str:
    """plotly.js copied into the app's static folder (explorer/static/, served by Streamlit at
    <base>/app/static/ when server.enableStaticServing is on, as .streamlit/config.toml has it);
    its name. That route answers with an ETag and a Last-Modified (the plotly package's file
    time, kept), so a browser keeps plotly.js between visits of the Map and runs it from its
    code cache; the component's own route sends neither, and gzips 4.8 MB on every visit."""
    import plotly

    source = _parts()["plotly.min.js"]
    target = Path(__file__).parent.parent.parent / "static" / f"plotly-{plotly.__version__}.min.js"
    made = source.stat()
    if not target.is_file() or target.stat().st_size != made.st_size:
        atomic.write_bytes(target, source.read_bytes(), fsync=False)
        os.utime(target, (made.st_atime, made.st_mtime))
    return target.name


def plotly_url() -> str:
    """Where the chart's page loads plotly.js from: the app's static folder when Streamlit
    serves it and it can be written, else the component's own folder."""
    if not st.get_option("server.enableStaticServing"):
        return "plotly.min.js"
    with _LOCK:
        if "plotly" not in _STATIC:
            try:
                _STATIC["plotly"] = f"{STATIC_ROUTE}/{_static_plotly()}"
            except OSError as e:  # an installed, read-only package: the component's copy still works
                _LOG.warning("plotly.js not copied to the app's static folder (%s); using the chart's own copy", e)
                _STATIC["plotly"] = "plotly.min.js"
    return _STATIC["plotly"]


def _component():
    """(folder, component function) for the cache dir now in use; made once per cache dir."""
    cache = cache_dir()
    with _LOCK:
        made = _FOLDERS.get(cache)
        if made is None:
            import streamlit.components.v1 as components

            folder = _make_folder(cache)
            made = _FOLDERS[cache] = (folder, components.declare_component("map", path=str(folder)))
    return made


def figure_id(fig, folder: Path) -> str:
    """The id of `fig`'s file in `folder`, written there if it is not (figures are shared and
    never changed once made, so one is serialised once while it is in use)."""
    with _LOCK:
        hit = _WRITTEN.get(id(fig))
    if hit is not None and hit[0]() is fig:  # the same figure, not another one now at that address
        fid = hit[1]
        path = folder / "figures" / f"{fid}.json"
        if path.is_file():
            _touch(path)
            return fid
    text = fig.to_json()
    fid = hashlib.sha1(text.encode()).hexdigest()[:20]
    path = folder / "figures" / f"{fid}.json"
    if path.is_file():
        _touch(path)
    else:
        atomic.write_text(path, text, fsync=False)
        prune(folder / "figures")
    with _LOCK:
        _WRITTEN[id(fig)] = (weakref.ref(fig), fid)  # weak: the figure cache decides how long a figure lives
        while len(_WRITTEN) > _WRITTEN_MAX:
            _WRITTEN.popitem(last=False)
    return fid


def _touch(path: Path) -> None:
    try:
        os.utime(path)  # in use: the last to be pruned
    except OSError:
        pass


def prune(figures: Path, kept: int = FIGURES_KEPT, keep_s: float = KEEP_S) -> list[str]:
    """Remove the oldest figure files beyond the newest `kept`, sparing any used in the last
    `keep_s` seconds (a browser may still be fetching it); the names removed."""
    now = time.time()
    entries = []
    for p in figures.glob("*.json"):
        try:
            entries.append((p.stat().st_mtime, p))
        except OSError:  # removed meanwhile by another replica
            continue
    entries.sort(reverse=True)
    removed = []
    for mtime, p in entries[kept:]:
        if now - mtime > keep_s:
            p.unlink(missing_ok=True)
            removed.append(p.name)
    return removed


def folder() -> Path:
    """The component's folder for the cache dir now in use (made on first use)."""
    return _component()[0]


def figure_json(fid: str) -> str:
    """The JSON of the figure `fid` as the chart reads it (tests look at what a page drew)."""
    return (folder() / "figures" / f"{fid}.json").read_text(encoding="utf-8")


def show(fig, key: str, height: int, clear: int, config: dict | None = None) -> dict | None:
    """Draw `fig` (`height` px high) as the chart `key`; its last event, or None. A new `clear`
    count takes the chart's own marks and selection away."""
    try:
        folder, component = _component()
        fid = figure_id(fig, folder)
    except OSError as e:  # the map is still drawn, without picking
        _LOG.warning("map chart folder not writable: %s", e)
        st.plotly_chart(fig, key=f"{key}_plain", config=config or {})
        st.warning(f"Picking points on this map needs a folder the app can write to, and {e}. "
                   f"Set EXPLORER_CACHE_DIR to a writable folder and restart the app.")
        return None
    return component(figure=fid, height=int(height), clear=int(clear), config=config or {}, plotly=plotly_url(),
                     key=key, default=None)
