"""plots.py: what the map shows (traces, legend, selection indices) and the sizes of image grids."""
from __future__ import annotations

import re

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from PIL import Image

from explorer.figures import grids, plots
from explorer.core.config import ModelConfig
from explorer.models import build_model

NAMES = ["T-shirt", "Trouser", "Pullover"]


@pytest.fixture
def points():
    rng = np.random.default_rng(0)
    return rng.normal(size=(60, 2)), rng.integers(0, 3, 60)


def test_class_colours_are_ten_distinct_colours():
    assert len(plots.CLASS_COLORS) == 10 and len(set(plots.CLASS_COLORS)) == 10
    assert all(re.fullmatch(r"#[0-9A-Fa-f]{6}", c) for c in plots.CLASS_COLORS)


@pytest.mark.parametrize("color_by", ["predicted", "label"])
def test_map_has_one_trace_per_class_named_by_class(color_by, points):
    coords, classes = points
    fig = plots.latent_map(coords, color_by, classes, NAMES, title="UMAP")
    assert [t.name for t in fig.data] == NAMES
    assert all(isinstance(t, go.Scattergl) for t in fig.data)
    for k, trace in enumerate(fig.data):
        idx = np.asarray(trace.customdata)
        assert (classes[idx] == k).all()  # customdata is the index into the test set
        assert np.allclose(np.asarray(trace.x), coords[idx, 0])
        assert trace.marker.color == plots.CLASS_COLORS[k]
    assert sorted(np.concatenate([np.asarray(t.customdata) for t in fig.data]).tolist()) == list(range(60))
    layout = fig.layout
    assert layout.font.size == 16 and layout.dragmode == "lasso"
    assert layout.yaxis.scaleanchor == "x" and not layout.xaxis.showgrid
    fig.to_json()  # serialisable, as Streamlit needs


def test_map_correct_and_continuous_colourings(points):
    coords, classes = points
    correct = classes != 1
    fig = plots.latent_map(coords, "correct", correct, NAMES)
    assert [t.name for t in fig.data] == ["correct", "misclassified"]
    assert sorted(np.asarray(fig.data[1].customdata).tolist()) == np.flatnonzero(~correct).tolist()
    for color_by in ("confidence", "recon_error"):
        values = np.linspace(0, 1, 60)
        fig = plots.latent_map(coords, color_by, values, NAMES)
        assert len(fig.data) == 1 and fig.data[0].marker.showscale
        assert np.array_equal(np.asarray(fig.data[0].customdata), np.arange(60))
        assert np.allclose(np.asarray(fig.data[0].marker.color), values)
    with pytest.raises(ValueError, match="color_by"):
        plots.latent_map(coords, "mood", classes, NAMES)


def test_map_overlays_selection_path_marker_and_backdrop(points):
    coords, classes = points
    path = np.stack([np.linspace(-1, 1, 9), np.zeros(9)], 1)
    backdrop = (Image.new("L", (30, 30), 128), -2.0, 2.0, -3.0, 3.0)
    fig = plots.latent_map(coords, "predicted", classes, NAMES, selected=[3, 7], path=path, marker=(0.5, -0.5),
                           backdrop=backdrop)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["selected"].customdata) == [3, 7]
    assert by_name["selected"].marker.symbol == "circle-open"
    assert len(by_name["path"].x) == 9 and "lines" in by_name["path"].mode
    assert by_name["current code"].marker.symbol == "star"
    assert all(c == plots.NOT_A_TEST_POINT for c in by_name["path"].customdata)
    image = fig.layout.images[0]
    assert image.layer == "below" and image.source.startswith("data:image/png;base64,")
    assert (image.x, image.y, image.sizex, image.sizey) == (-2.0, 3.0, 4.0, 6.0)


def test_image_grid_size_follows_columns_rows_and_scale():
    images = np.random.default_rng(0).random((7, 1, 8, 6), dtype=np.float32)
    grid = grids.image_grid(images, ncols=3, scale=3, pad=2)
    assert grid.size == (3 * 6 * 3 + 4 * 2, 3 * 8 * 3 + 4 * 2)  # 3 columns, 3 rows
    # the first cell holds the first image, upscaled by nearest neighbour
    cell = np.asarray(grid.convert("L"))[2:2 + 24, 2:2 + 18]
    expected = np.kron((images[0, 0] * 255 + 0.5).astype(np.uint8), np.ones((3, 3), np.uint8))
    assert np.abs(cell.astype(int) - expected).max() <= 1


def test_image_grid_captions_and_highlight():
    images = np.zeros((4, 1, 8, 8), np.float32)
    plain = grids.image_grid(images, ncols=4)
    captioned = grids.image_grid(images, ncols=4, captions=["Sandal 0.97", "Sneaker\n0.51", "b", "c"],
                                 highlight=[1])
    assert captioned.height > plain.height + 2 * 14  # two caption lines fit under the cells
    px = np.asarray(captioned)
    orange = np.all(px == (0xD5, 0x5E, 0x00), axis=-1)
    assert orange.any()  # the highlighted cell's border
    dark_text = (px.sum(-1) < 200)[8 * 3 + 6:, :]  # below the images
    assert dark_text.any()
    with pytest.raises(ValueError, match="captions"):
        grids.image_grid(images, 2, captions=["only one"])


def test_to_pil_upscales():
    img = grids.to_pil(np.random.default_rng(0).random((1, 8, 8)), scale=4)
    assert img.size == (32, 32) and img.mode == "L"


def test_manifold_grid_tiles_the_decoded_plane():
    torch.manual_seed(0)
    model = build_model(ModelConfig(channels=(4, 8), hidden=16, latent_dim=2, image_shape=(1, 8, 8))).eval()
    img, extent = plots.manifold_grid(model, (-2.0, 2.0, -1.0, 1.0), n=5)
    assert img.size == (5 * 8, 5 * 8) and img.mode == "L"
    assert extent == pytest.approx((-2.5, 2.5, -1.25, 1.25))  # half a cell beyond the outer codes
    from explorer.analysis.latent import decode
    top_left = decode(model, np.array([[-2.0, 1.0]], np.float32))[0, 0]
    assert np.abs(np.asarray(img)[:8, :8] / 255.0 - top_left).max() < 0.01
    with pytest.raises(ValueError, match="2-D latent"):
        plots.manifold_grid(build_model(ModelConfig(channels=(4, 8), hidden=16, latent_dim=3,
                                                    image_shape=(1, 8, 8))), (-1, 1, -1, 1))


def test_curves_figure():
    history = [{"epoch": 1, "train_loss": 3.0, "test_loss": 3.5}, {"epoch": 2, "train_loss": 2.0}]
    fig = plots.curves_figure(history, ["train_loss", "test_loss", "absent"])
    assert [t.name for t in fig.data] == ["train_loss", "test_loss"]
    assert list(fig.data[0].x) == [1, 2] and list(fig.data[1].y) == [3.5]
