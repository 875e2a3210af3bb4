"""A small latent map as a picture, for views that redraw on every slider move.

A plotly figure of a few thousand points is about 100 kB of JSON that the browser lays out
and draws again (WebGL) on every move. Here the points (and a path, and ringed points) are
drawn once into a PIL image, `MiniMap`, and a move only pastes a star on a copy of it:
a few kB of PNG for the browser to show. Drawn at twice the size and scaled down, so the
points are smooth; the colours are the map's class colours (plots.class_color).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from explorer.figures.plots import class_color

SUPERSAMPLE = 2
PAD = 0.05            # of the extent, on every side
FRAME = "#BBBBBB"
PATH = "#222222"
STAR_PX = 26          # the star's width on the picture, as plotly's star marker of size 26


@dataclass(frozen=True)
class MiniMap:
    """The drawn map and the data extent it covers (x0..x1 left to right, y0..y1 bottom to top)."""

    image: Image.Image
    x0: float
    x1: float
    y0: float
    y1: float

    def pixel(self, x: float, y: float) -> tuple[float, float]:
        """Where (x, y) is on the picture, clipped to it."""
        w, h = self.image.size
        px = (float(x) - self.x0) / (self.x1 - self.x0) * (w - 1)
        py = (self.y1 - float(y)) / (self.y1 - self.y0) * (h - 1)
        return float(np.clip(px, 0, w - 1)), float(np.clip(py, 0, h - 1))


def _extent(coords: np.ndarray, width: int, height: int, equal_axes: bool) -> tuple[float, float, float, float]:
    lo, hi = coords.min(0), coords.max(0)
    span = np.maximum(hi - lo, 1e-9)
    lo, hi = lo - PAD * span, hi + PAD * span
    if equal_axes:  # one unit is as long on both axes: widen the shorter side around its centre
        per_px = max((hi[0] - lo[0]) / width, (hi[1] - lo[1]) / height)
        mid = (lo + hi) / 2
        half = np.array([per_px * width, per_px * height]) / 2
        lo, hi = mid - half, mid + half
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def _rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))


def draw(coords: np.ndarray, classes: np.ndarray, *, width: int, height: int, equal_axes: bool = True,
         path: np.ndarray | None = None, selected: np.ndarray | None = None, opacity: float = 0.3,
         point_px: float = 4.0) -> MiniMap:
    """The points `coords` (N, 2) coloured by `classes` (N,), faint; `path` (M, 2) as a dark line
    with white dots; `selected` (points (K, 2)) ringed in black. The extent covers the points,
    the path and the rings."""
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    extra = [a for a in (path, selected) if a is not None and len(a)]
    everything = np.concatenate([coords, *[np.asarray(a, dtype=np.float64).reshape(-1, 2) for a in extra]])
    x0, x1, y0, y1 = _extent(everything, width, height, equal_axes)
    s = SUPERSAMPLE
    big = Image.new("RGB", (width * s, height * s), "white")
    pen = ImageDraw.Draw(big, "RGBA")  # RGBA fills blend onto the picture

    def to_px(xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return np.stack([(xy[:, 0] - x0) / (x1 - x0) * (width * s - 1),
                         (y1 - xy[:, 1]) / (y1 - y0) * (height * s - 1)], axis=1)

    alpha = int(round(255 * opacity))
    r = point_px * s / 2
    classes = np.asarray(classes, dtype=np.int64)
    for (px, py), k in zip(to_px(coords), classes):
        pen.ellipse([px - r, py - r, px + r, py + r], fill=(*_rgb(class_color(int(k))), alpha))
    if path is not None and len(path):
        pts = [tuple(p) for p in to_px(path)]
        pen.line(pts, fill=_rgb(PATH), width=3 * s, joint="curve")
        for px, py in pts:
            pen.ellipse([px - 4 * s, py - 4 * s, px + 4 * s, py + 4 * s], fill="white", outline=_rgb(PATH), width=2 * s)
    if selected is not None and len(selected):
        ring = 9 * s
        for px, py in to_px(selected):
            pen.ellipse([px - ring, py - ring, px + ring, py + ring], outline="black", width=int(2.5 * s))
    pen.rectangle([0, 0, width * s - 1, height * s - 1], outline=_rgb(FRAME), width=s)
    return MiniMap(big.resize((width, height), Image.LANCZOS), x0, x1, y0, y1)


@functools.lru_cache(maxsize=4)
def _star(px: int) -> Image.Image:
    """A gold five-pointed star with a black edge, RGBA, `px` wide, drawn large and scaled down."""
    s = 8
    size = px * s
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    c = size / 2
    outer, inner = size / 2 - s, size / 5
    angles = np.pi / 2 + np.arange(10) * np.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, outer, inner)
    points = [(c + rad * np.cos(a), c - rad * np.sin(a)) for rad, a in zip(radii, angles)]
    ImageDraw.Draw(img).polygon(points, fill="#FFD700", outline="black", width=2 * s)
    return img.resize((px, px), Image.LANCZOS)


def with_star(mini: MiniMap, x: float, y: float, px: int = STAR_PX) -> Image.Image:
    """A copy of the map with a star at (x, y) (clipped to the picture)."""
    out = mini.image.copy()
    cx, cy = mini.pixel(x, y)
    star = _star(px)
    out.paste(star, (int(round(cx - px / 2)), int(round(cy - px / 2))), star)  # its alpha as the mask
    return out
