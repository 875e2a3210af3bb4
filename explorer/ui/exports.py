"""Download buttons: a grid or strip as PNG, a path as animated GIF, the map as PNG, HTML, CSV.

The bytes come from explorer/figures/export.py. Every file is made only when its button is clicked
(deferred data: a GIF takes a moment to encode), and a click downloads without rerunning the page.
"""
from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import streamlit as st
from PIL import Image

from explorer.figures import export


def png_button(where, image: Image.Image | bytes | Callable[[], Image.Image | bytes], name: str, key: str,
               label: str = "PNG") -> None:
    """Download `image` (a PIL image, the PNG bytes a page shows, or a function making either,
    called only when the button is clicked) as `name`.png."""
    where.download_button(label, lambda: export.png_bytes(_pil(image() if callable(image) else image)),
                          file_name=f"{export.file_stem(name)}.png",
                          mime="image/png", key=key, on_click="ignore", icon=":material/download:",
                          help="Download this picture as a PNG file")


def _pil(image: Image.Image | bytes) -> Image.Image:
    return Image.open(io.BytesIO(image)) if isinstance(image, bytes) else image


def gif_button(where, frames: np.ndarray, captions: list[str] | None, name: str, key: str,
               label: str = "GIF") -> None:
    """Download the frames (N, C, H, W) as an animated GIF, one frame per image, looping."""
    where.download_button(label, lambda: export.gif_bytes(frames, captions), file_name=f"{export.file_stem(name)}.gif",
                          mime="image/gif", key=key, on_click="ignore", icon=":material/animation:",
                          help=f"Download the {len(frames)} frames as an animated GIF (for slides)")


def map_buttons(fig, coords: np.ndarray, labels: np.ndarray, pred: np.ndarray | None, class_names, name: str,
                key: str = "map_export") -> None:
    """PNG, interactive HTML and CSV of the map, side by side."""
    stem = export.file_stem(name)
    png = html = csv_ = st.container(horizontal=True)
    problem = export.png_export_problem()
    png.download_button("PNG", lambda: export.map_png(fig), file_name=f"{stem}.png", mime="image/png",
                        key=f"{key}_png", on_click="ignore", icon=":material/image:", disabled=bool(problem),
                        help=problem or "The map as a picture (made by a headless Chromium: a few seconds)")
    html.download_button("HTML", lambda: export.map_html(fig), file_name=f"{stem}.html", mime="text/html",
                         key=f"{key}_html", on_click="ignore", icon=":material/code:",
                         help="The interactive map as one HTML file that opens offline (about 5 MB)")
    csv_.download_button("CSV", lambda: export.map_csv(coords, labels, pred, class_names), file_name=f"{stem}.csv",
                         mime="text/csv", key=f"{key}_csv", on_click="ignore", icon=":material/table:",
                         help="Every point: test index, x, y, true and predicted label")
