"""Files to take away: grids as PNG, paths as animated GIF, the map as PNG, HTML and CSV.

Pure functions from arrays, PIL images and plotly figures to bytes (or text); the app's
download buttons and a notebook use the same ones. Nothing here imports streamlit.
"""
from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from explorer.core.errors import ExplorerError
from explorer.figures import grids, plots

GIF_FRAME_MS = 250      # per frame: a path of 11 frames plays in under 3 s
PROGRESS_PX = 6         # height of the progress bar under each GIF frame
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")  # kaleido finds these
CSV_COLUMNS = ("index", "x", "y", "true_label", "true_class", "predicted_label", "predicted_class")


class ExportError(ExplorerError):
    """An export that cannot be made; the message says what is missing and what to do."""


def png_bytes(image: Image.Image, fast: bool = False) -> bytes:
    """A PIL image as PNG bytes (lossless: the sharp pixels of an upscaled 28x28 image stay sharp).
    `fast`: light compression, for pictures shown in the page (a few per cent bigger, several
    times quicker to make); otherwise the smallest file, for downloads."""
    buf = io.BytesIO()
    if fast:
        image.save(buf, format="PNG", compress_level=1)
    else:
        image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def gif_frames(frames: np.ndarray, captions: Sequence[str] | None = None, scale: int = 8) -> list[Image.Image]:
    """One RGB picture per decoded image (N, C, H, W): the image, its caption, and a bar that
    fills from left to right, so the viewer sees where in the path each frame is."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or len(frames) == 0:
        raise ExportError(f"expected decoded images (N, C, H, W) with N >= 1, got shape {frames.shape}")
    if captions is not None and len(captions) != len(frames):
        raise ExportError(f"{len(captions)} captions for {len(frames)} frames")
    n = len(frames)
    pictures = []
    for i in range(n):
        tile = grids.image_grid(frames[i:i + 1], 1, captions=[captions[i]] if captions else None,
                                scale=scale, pad=4)
        out = Image.new("RGB", (tile.width, tile.height + PROGRESS_PX), "white")
        out.paste(tile, (0, 0))
        filled = round(out.width * (i + 1) / n)
        ImageDraw.Draw(out).rectangle([0, tile.height, filled - 1, out.height - 1], fill=plots.HIGHLIGHT_COLOR)
        pictures.append(out)
    return pictures


def gif_bytes(frames: np.ndarray, captions: Sequence[str] | None = None, scale: int = 8,
              frame_ms: int = GIF_FRAME_MS, loop: int = 0) -> bytes:
    """An animated GIF with exactly one frame per decoded image (the progress bar keeps every
    frame distinct, so the encoder never merges two). `loop=0` repeats for ever."""
    # a GIF frame holds at most 256 colours: 64 are plenty for grey images, colour ones get them all
    colors = 256 if np.asarray(frames).shape[1:2] == (3,) else 64
    pictures = [p.convert("P", palette=Image.Palette.ADAPTIVE, colors=colors)
                for p in gif_frames(frames, captions, scale)]
    buf = io.BytesIO()
    pictures[0].save(buf, format="GIF", save_all=True, append_images=pictures[1:], duration=int(frame_ms),
                     loop=int(loop), disposal=1)
    return buf.getvalue()


def map_html(fig) -> str:
    """The interactive map as one self-contained HTML file: plotly.js is inlined, so it opens
    offline (about 4.5 MB)."""
    return fig.to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False})


def map_png(fig, width: int = 1200, height: int = 900, scale: float = 1.0) -> bytes:
    """The map exactly as plotly draws it, as PNG, through kaleido and a local Chrome or Chromium.

    Raises ExportError, saying what to install, when kaleido or the browser is missing."""
    try:
        import kaleido  # noqa: F401  (plotly's static export engine)
    except ImportError as e:
        raise ExportError("PNG export of the map needs the `kaleido` package: pip install kaleido") from e
    try:
        return fig.to_image(format="png", width=width, height=height, scale=scale)
    except Exception as e:  # kaleido raises several kinds when no browser can be started
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError("PNG export of the map needs Chrome or Chromium on this machine "
                          f"({first[:200]}). Install one (e.g. `apt-get install chromium`), "
                          "or download the interactive HTML instead.") from e


def map_csv(coords: np.ndarray, labels: np.ndarray, pred: np.ndarray | None, class_names: Sequence[str],
            indices: np.ndarray | None = None) -> str:
    """The map's points as CSV: test index, x, y, true and predicted label (number and name).

    The predicted columns are empty when there is no classifier."""
    coords = np.asarray(coords)
    n = len(coords)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ExportError(f"map coordinates must have shape (N, 2), got {coords.shape}")
    if len(labels) != n or (pred is not None and len(pred) != n):
        raise ExportError(f"{n} map points but {len(labels)} labels"
                          + ("" if pred is None else f" and {len(pred)} predictions"))
    indices = np.arange(n) if indices is None else np.asarray(indices)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for j in range(n):
        t = int(labels[j])
        row = [int(indices[j]), f"{float(coords[j, 0]):.6g}", f"{float(coords[j, 1]):.6g}", t, class_names[t]]
        if pred is None:
            row += ["", ""]
        else:
            p = int(pred[j])
            row += [p, class_names[p]]
        w.writerow(row)
    return buf.getvalue()


def file_stem(*parts: str) -> str:
    """A safe file name from parts, e.g. ("vae-16d", "umap") -> "vae-16d_umap"."""
    keep = "".join(c if c.isalnum() or c in "-._" else "-" for c in "_".join(str(p) for p in parts if p))
    return keep.strip("-_.") or "export"


def png_export_problem() -> str:
    """Why map_png() cannot work on this machine ("" when it can): kaleido or a browser missing."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return "PNG export of the map needs the `kaleido` package (pip install kaleido)."
    if os.environ.get("BROWSER_PATH") or any(shutil.which(n) for n in BROWSERS):
        return ""
    return ("PNG export of the map needs Chrome or Chromium on this machine (e.g. `apt-get install chromium`); "
            "the HTML export works without it.")


__all__ = ["ExportError", "png_bytes", "gif_frames", "gif_bytes", "map_html", "map_png", "map_csv", "file_stem",
           "png_export_problem"]
