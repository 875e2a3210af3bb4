"""Figures and pictures as PNG bytes, built once and shared between sessions."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from explorer.figures import export, grids


def figure(name: str, key: tuple, build: Callable[[], go.Figure]) -> go.Figure:
    """The figure `build()` makes, built once per (name, key) and shared between sessions: a
    plotly figure takes tens of ms to build (its template is copied and validated), and
    st.plotly_chart only reads it. `key` must hold everything the figure shows; callers
    never change the figure they get (copy it with go.Figure(fig) first)."""
    return _figure(name, key, build)


@st.cache_resource(show_spinner=False, max_entries=128)
def _figure(name: str, key: tuple, _build: Callable[[], go.Figure]) -> go.Figure:
    return _build()


def png_bytes(image: Image.Image) -> bytes:
    """A picture to show as PNG, compressed lightly (it is shown, and cached)."""
    return export.png_bytes(image, fast=True)


@st.cache_data(show_spinner=False, max_entries=512)
def grid_png(images: np.ndarray, ncols: int, captions: tuple[str, ...] | None, scale: int,
             highlight: tuple[int, ...] | None, font_size: int = 14, cell_width: int = 0) -> bytes:
    """grids.image_grid as PNG bytes, cached by the images and every drawing setting."""
    return png_bytes(grids.image_grid(images, ncols, captions=captions, scale=scale, highlight=highlight,
                                      font_size=font_size, cell_width=cell_width))


@st.cache_data(show_spinner=False, max_entries=512)
def image_png(image: np.ndarray, scale: int) -> bytes:
    """grids.to_pil as PNG bytes, cached by the image and its scale."""
    return png_bytes(grids.to_pil(image, scale=scale))


@st.cache_data(show_spinner=False, max_entries=256)
def pair_png(a: np.ndarray, b: np.ndarray, scale: int) -> bytes:
    """Two images side by side with a thin white gap, as PNG bytes, cached by both and the scale."""
    left, right = grids.to_pil(a, scale=scale), grids.to_pil(b, scale=scale)
    gap = max(2, left.width // 20)
    out = Image.new(left.mode, (left.width * 2 + gap, left.height), "white")  # white in "L" and "RGB" alike
    out.paste(left, (0, 0))
    out.paste(right, (left.width + gap, 0))
    return png_bytes(out)
