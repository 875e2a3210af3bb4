"""export.py: the files a user downloads open in ordinary tools and hold what they should."""
from __future__ import annotations

import csv
import io

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from explorer.figures import export, grids


def path_frames(n: int, side: int = 8) -> np.ndarray:
    """n (1, side, side) images fading from black to white: a stand-in for an interpolation."""
    return np.stack([np.full((1, side, side), t, np.float32) for t in np.linspace(0, 1, n)])


@pytest.mark.parametrize("steps", [2, 5, 11])
def test_gif_is_animated_with_one_frame_per_step(steps):
    data = export.gif_bytes(path_frames(steps), captions=[f"t {t:.2f}" for t in np.linspace(0, 1, steps)])
    gif = Image.open(io.BytesIO(data))
    assert gif.format == "GIF"
    assert gif.n_frames == steps
    assert gif.is_animated
    assert gif.info.get("loop") == 0          # plays for ever, for a slide
    assert gif.info.get("duration") == export.GIF_FRAME_MS


def test_gif_keeps_identical_images_as_separate_frames():
    """A collapsed model decodes the same image every step; the GIF must still have them all."""
    same = np.zeros((7, 1, 8, 8), np.float32)
    assert Image.open(io.BytesIO(export.gif_bytes(same))).n_frames == 7


def test_gif_frames_show_the_image_upscaled():
    frames = export.gif_frames(path_frames(3), scale=8)
    assert len(frames) == 3
    first, last = np.asarray(frames[0].convert("L")), np.asarray(frames[-1].convert("L"))
    # the image sits top-left inside a 4 px pad: black in the first frame, white in the last
    assert first[4:68, 4:68].max() == 0 and last[4:68, 4:68].min() == 255


def test_gif_rejects_what_is_not_a_stack_of_images():
    with pytest.raises(export.ExportError, match="N, C, H, W"):
        export.gif_bytes(np.zeros((8, 8)))
    with pytest.raises(export.ExportError, match="captions"):
        export.gif_bytes(path_frames(3), captions=["a"])


def test_png_decodes_to_the_same_pixels():
    grid = grids.image_grid(path_frames(4), 4, captions=list("abcd"), scale=3)
    back = Image.open(io.BytesIO(export.png_bytes(grid)))
    assert back.format == "PNG" and back.size == grid.size
    assert np.array_equal(np.asarray(back.convert("RGB")), np.asarray(grid))


def test_csv_has_one_row_per_point_with_labels_by_number_and_name():
    coords = np.array([[0.5, -1.0], [2.0, 3.25], [1e-7, 4.0]])
    names = ("zero", "one", "two")
    text = export.map_csv(coords, np.array([0, 2, 1]), np.array([0, 1, 1]), names, indices=np.array([10, 20, 30]))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == export.CSV_COLUMNS
    assert [r["index"] for r in rows] == ["10", "20", "30"]
    assert float(rows[1]["x"]) == 2.0 and float(rows[1]["y"]) == 3.25
    assert rows[1]["true_class"] == "two" and rows[1]["predicted_class"] == "one"
    assert rows[2]["predicted_label"] == "1"


def test_csv_without_a_classifier_leaves_the_prediction_empty():
    rows = list(csv.DictReader(io.StringIO(export.map_csv(np.zeros((2, 2)), np.array([0, 1]), None, ("a", "b")))))
    assert [r["predicted_label"] for r in rows] == ["", ""]
    assert [r["index"] for r in rows] == ["0", "1"]


def test_csv_refuses_mismatched_lengths():
    with pytest.raises(export.ExportError, match="3 map points but 2 labels"):
        export.map_csv(np.zeros((3, 2)), np.array([0, 1]), None, ("a", "b"))


def test_map_html_works_offline():
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name="points"))
    html = export.map_html(fig)
    assert html.lstrip().lower().startswith("<!doctype html>") and "</html>" in html
    assert 'src="http' not in html             # plotly.js inlined: no script from the network
    assert len(html) > 1_000_000 and '"points"' in html


@pytest.mark.slow
def test_map_png_is_a_png_of_the_requested_size():
    """Real kaleido with the local Chromium (several seconds: it starts a browser)."""
    fig = go.Figure(go.Scattergl(x=np.arange(50), y=np.arange(50) % 7, mode="markers"))
    img = Image.open(io.BytesIO(export.map_png(fig, width=640, height=480)))
    assert img.format == "PNG" and img.size == (640, 480)


def test_file_stem_is_safe():
    assert export.file_stem("vae-16d", "umap") == "vae-16d_umap"
    assert export.file_stem("../../etc", "a b") == "etc_a-b"
